"""The limits on scoring one answer, kept apart from the scorer so the plugin's flags can show them
without importing it."""

#: Seconds one check may take on one answer (the shipped cases take milliseconds).
DEFAULT_SCORE_TIMEOUT = 5.0
#: Answers are cut to this many UTF-8 bytes before scoring (a real answer is a few KB).
DEFAULT_MAX_ANSWER_BYTES = 1 << 20
