"""Strings full of markup and script injection, for the report tests."""

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_FLAG = '<img src=x onerror="window.__aigovXss=1"><svg onload="window.__aigovXss=2">'
HOSTILE = f"{XSS_SCRIPT} {XSS_IMG} {XSS_FLAG} | `tick` *star* [link](javascript:alert(1)) &amp;"
