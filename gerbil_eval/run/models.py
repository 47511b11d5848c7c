"""The models of a run: each one's name as its endpoint knows it, the endpoint, and its role."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: its name as the endpoint knows it, and the endpoint."""

    name: str
    base_url: str
    role: str = "candidate"  # "candidate" (--model) or "baseline" (--baseline)
    #: For a model the harness serves itself (--serve): what is served (files, alias, context),
    #: as a stable string; None for every other endpoint.
    served: str | None = None

    @property
    def cache_endpoint(self) -> str:
        """What answers this model, as far as the response cache is concerned: the base URL,
        or for a served model what is served, because --serve listens on a new port every run."""
        return self.served or self.base_url
