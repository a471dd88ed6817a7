"""One exit-code contract for every command (README, "Exit codes")."""

EXIT_OK = 0  # pass; the gate's ALLOW
EXIT_FINDINGS = 1  # findings at or above the threshold; the gate's DENY
EXIT_ERROR = 2  # usage, input or engine error: never a pass
EXIT_INDETERMINATE = 3  # indeterminate findings at or above the threshold (when asked)
EXIT_ALLOW, EXIT_DENY = EXIT_OK, EXIT_FINDINGS
