"""Licence use classes: how permissive a licence is, as a plain fact the engine can compare.

The classes follow the Data Provenance Initiative's use classes (All / NC / Acad /
Unspecified), with custom model licences that carry use restrictions (Llama, Gemma, Qwen,
DeepSeek v1.0) as a class of their own. A higher rank is more permissive, so "a declared
licence more permissive than its upstream" is ``child.licence_rank > parent.licence_rank``.
Licences are matched case-insensitively by SPDX id or Hugging Face licence id; a licence
that names a terms record is classed from that record's clauses.
"""

from __future__ import annotations

from enum import StrEnum


class LicenceClass(StrEnum):
    unspecified = "unspecified"
    non_commercial = "non_commercial"
    restricted = "restricted"
    permissive = "permissive"


RANK: dict[LicenceClass, int] = {
    LicenceClass.unspecified: 0,
    LicenceClass.non_commercial: 1,
    LicenceClass.restricted: 2,
    LicenceClass.permissive: 3,
}

_KNOWN: dict[str, LicenceClass] = {}
for _ids, _class in (
    (
        "mit apache-2.0 bsd-2-clause bsd-3-clause isc cc0-1.0 cc-by-4.0 cc-by-3.0 cc-by-sa-4.0 "
        "cc-by-sa-3.0 odc-by odbl-1.0 pddl unlicense zlib mpl-2.0 lgpl-3.0 gpl-3.0 agpl-3.0 "
        "openrail openrail++ bigscience-openrail-m creativeml-openrail-m proprietary-internal",
        LicenceClass.permissive,
    ),
    (
        "llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma qwen tongyi-qianwen deepseek "
        "deepseek-license bigscience-bloom-rail-1.0 apple-ascl",
        LicenceClass.restricted,
    ),
    (
        "cc-by-nc-4.0 cc-by-nc-sa-4.0 cc-by-nc-nd-4.0 cc-by-nc-3.0 cc-by-nc-sa-3.0 "
        "cc-by-nc-nd-3.0 qwen-research research-only academic-only openai anthropic",
        LicenceClass.non_commercial,
    ),
    ("unspecified unknown other none noassertion", LicenceClass.unspecified),
):
    for _id in _ids.split():
        _KNOWN[_id] = _class


def classify(licence: str | None, terms_class: dict[str, LicenceClass]) -> LicenceClass:
    """The use class of one licence id; ``terms_class`` maps terms-record ids to classes."""
    if not licence:
        return LicenceClass.unspecified
    if licence in terms_class:
        return terms_class[licence]
    return _KNOWN.get(licence.strip().lower(), LicenceClass.unspecified)


def most_restrictive(classes: list[LicenceClass]) -> LicenceClass:
    if not classes:
        return LicenceClass.unspecified
    return min(classes, key=RANK.__getitem__)
