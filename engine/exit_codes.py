"""One exit-code contract for every command (docs/exit-codes.md)."""

EXIT_OK = 0  # pass; the gate's ALLOW
EXIT_FINDINGS = 1  # findings at or above the threshold; the gate's DENY
EXIT_ERROR = 2  # usage, input or engine error: never a pass
EXIT_INDETERMINATE = 3  # indeterminate findings at or above the threshold (when asked)
EXIT_ALLOW, EXIT_DENY = EXIT_OK, EXIT_FINDINGS
EXIT_SIGINT = 130  # interrupted (Ctrl-C): 128 + SIGINT
EXIT_SIGTERM = 143  # terminated: 128 + SIGTERM
# The reader of the output went away before reading all of it (`aigov audit | head -1`):
# 128 + SIGPIPE, what a shell shows for `cat big | head -1`. The output was not seen, so it is
# never a pass, and it is none of the verdicts 1, 2 or 3 either.
EXIT_BROKEN_PIPE = 141
