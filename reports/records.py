"""``aigov registry show`` as text."""

from __future__ import annotations

import yaml

from aigov.console import printable
from aigov.results.records import RecordView


def render_record_text(view: RecordView) -> str:
    """``aigov registry show`` as text: the record as YAML, then each non-empty relation."""
    lines = [printable(f"{view.kind} {view.record['id']}")]
    # YAML escapes C0 controls itself but passes bidi and format characters through.
    dumped = yaml.safe_dump(view.record, sort_keys=False, allow_unicode=True).rstrip()
    lines.append(printable(dumped, keep_layout=True))
    for title, items in (
        ("lineage up (ancestors)", view.ancestors),
        ("lineage down (descendants)", view.descendants),
        ("datasets", view.datasets),
        ("deployments", view.deployments),
        ("approvals", view.approvals),
        ("investigations", view.investigations),
        ("waivers", view.waivers),
        ("referenced by", view.referenced_by),
    ):
        if not items:
            continue
        lines.append(f"\n{title}:")
        for item in items:
            label = f" ({item.label})" if item.label and item.label != item.id else ""
            how = ""
            if item.relation:
                depth = f", depth {item.depth}" if item.depth else ""
                via = f" via {item.via}" if item.via and item.depth and item.depth > 1 else ""
                how = f" [{item.relation}{depth}]{via}"
            lines.append(printable(f"  {item.kind} {item.id}{label}{how}"))
    return "\n".join(lines)
