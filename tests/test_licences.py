"""Licences as SPDX licence expressions and their use classes (aigov.registry.licences).

The classes come from ``engine/registry/licences.yaml`` only; these tests check the
expression semantics (OR takes the most permissive side, AND the most restrictive, WITH the
licence's class), the canonical spelling, terms record ids as licences, the errors, and the
data file itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from aigov.errors import InputError
from aigov.registry import licences
from aigov.registry.licences import (
    LICENCES_FILE,
    RANK,
    Licence,
    LicenceClass,
    classify,
    load_licence_data,
    most_restrictive,
    normalise_licence,
    parse_licence,
)

C = LicenceClass
DATA = yaml.safe_load(LICENCES_FILE.read_text(encoding="utf-8"))
TERMS = {
    "llama-3.1-community-license": C.proprietary_terms,
    "acme/vision@2#eu~v1": C.non_commercial,
    "MIT-internal": C.research_only,
}


def test_the_six_classes_and_their_ranks() -> None:
    assert [c.value for c in sorted(C, key=RANK.__getitem__, reverse=True)] == [
        "permissive",
        "copyleft",
        "proprietary_terms",
        "non_commercial",
        "research_only",
        "unknown",
    ]
    assert [RANK[c] for c in sorted(C, key=RANK.__getitem__, reverse=True)] == [5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("text", "expression", "cls"),
    [
        ("mit", "MIT", C.permissive),
        ("cc-by-nc-4.0", "CC-BY-NC-4.0", C.non_commercial),
        ("Cc-By-Nc-4.0", "CC-BY-NC-4.0", C.non_commercial),
        ("APACHE-2.0", "Apache-2.0", C.permissive),
        ("LLAMA3.1", "llama3.1", C.proprietary_terms),
        ("Gemma", "gemma", C.proprietary_terms),
        ("noassertion", "NOASSERTION", C.unknown),
    ],
)
def test_ids_are_case_insensitive_and_take_their_canonical_spelling(
    text: str, expression: str, cls: LicenceClass
) -> None:
    assert parse_licence(text) == Licence(expression, (expression,), cls)


@pytest.mark.parametrize(
    ("text", "expression", "cls"),
    [
        ("MIT OR CC-BY-NC-4.0", "MIT OR CC-BY-NC-4.0", C.permissive),
        ("mit or cc-by-nc-4.0", "MIT OR CC-BY-NC-4.0", C.permissive),
        ("MIT AND CC-BY-NC-4.0", "MIT AND CC-BY-NC-4.0", C.non_commercial),
        ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception", C.permissive),
        # an exception takes its licence's class, whatever the exception's own
        ("cc-by-nc-4.0 WITH llvm-exception", "CC-BY-NC-4.0 WITH LLVM-exception", C.non_commercial),
        (
            "unknown WITH LLVM-exception OR llama3",
            "unknown WITH LLVM-exception OR llama3",
            C.proprietary_terms,
        ),
        (
            "gpl-2.0 with classpath-exception-2.0",
            "GPL-2.0-only WITH Classpath-exception-2.0",
            C.copyleft,
        ),
        ("GPL-3.0-or-later", "GPL-3.0-or-later", C.copyleft),
        ("agpl-3.0", "AGPL-3.0-only", C.copyleft),
        ("GPL-2.0+", "GPL-2.0-or-later", C.copyleft),
        ("LGPL-2.1-only OR MIT", "LGPL-2.1-only OR MIT", C.permissive),
        ("llama3.1 AND cc-by-sa-4.0", "llama3.1 AND CC-BY-SA-4.0", C.proprietary_terms),
        # AND binds tighter than OR; nested parentheses
        (
            "MIT OR GPL-3.0-only AND CC-BY-NC-4.0",
            "MIT OR (GPL-3.0-only AND CC-BY-NC-4.0)",
            C.permissive,
        ),
        (
            "(MIT OR GPL-3.0-only) AND CC-BY-NC-4.0",
            "(MIT OR GPL-3.0-only) AND CC-BY-NC-4.0",
            C.non_commercial,
        ),
        (
            "cc-by-nc-4.0 AND ((mit OR gpl-3.0-only) AND (gemma OR apple-amlr))",
            "CC-BY-NC-4.0 AND ((MIT OR GPL-3.0-only) AND (gemma OR apple-amlr))",
            C.non_commercial,
        ),
        ("((apple-amlr OR (gpl-3.0-only)))", "apple-amlr OR GPL-3.0-only", C.copyleft),
        ("openrail++ OR cc-by-nc-sa-4.0", "openrail++ OR CC-BY-NC-SA-4.0", C.proprietary_terms),
    ],
)
def test_expression_class_follows_its_operators(
    text: str, expression: str, cls: LicenceClass
) -> None:
    parsed = parse_licence(text)
    assert (parsed.expression, parsed.cls) == (expression, cls)
    assert classify(text, {}) is cls


def test_ids_are_every_symbol_canonical_sorted_and_unique() -> None:
    parsed = parse_licence("mit AND (Apache-2.0 WITH llvm-exception OR MIT) AND foo-Bar")
    assert parsed.ids == ("Apache-2.0", "LLVM-exception", "MIT", "foo-Bar")


def test_scancode_keys_are_accepted_and_classed() -> None:
    parsed = parse_licence(
        "licenseref-scancode-llama-3.1-license-2024 OR LicenseRef-scancode-llama-license-2023"
    )
    assert (
        parsed.expression
        == "LicenseRef-scancode-llama-3.1-license-2024 OR LicenseRef-scancode-llama-license-2023"
    )
    assert parsed.cls is C.proprietary_terms
    # LLaMA 1 is overridden in the data (research only); its ScanCode category is Proprietary Free
    assert classify("LicenseRef-scancode-llama-license-2023", {}) is C.research_only
    assert classify("LicenseRef-scancode-bigscience-open-rail-m", {}) is C.proprietary_terms
    assert classify("BSD-4-Clause", {}) is C.permissive  # not listed: its ScanCode category


@pytest.mark.parametrize("text", ["Acme-Model-Licence-2", "LicenseRef-acme-eula", "foo.bar:baz"])
def test_an_unknown_symbol_keeps_its_spelling_and_is_unknown(text: str) -> None:
    assert parse_licence(text) == Licence(text, (text,), C.unknown)
    assert parse_licence(f"{text} and mit").expression == f"{text} AND MIT"
    assert classify(f"{text} AND MIT", {}) is C.unknown
    assert classify(f"{text} OR cc-by-nc-4.0", {}) is C.non_commercial


@pytest.mark.parametrize("text", ["unknown", "other", "noassertion", "NONE", "Unknown"])
def test_no_licence_is_unknown(text: str) -> None:
    assert parse_licence(text).cls is C.unknown


def test_a_terms_record_id_takes_its_records_class_alone_or_inside_an_expression() -> None:
    assert classify("llama-3.1-community-license", TERMS) is C.proprietary_terms
    assert classify("llama-3.1-community-license", {}) is C.unknown
    parsed = parse_licence("llama-3.1-community-license AND (mit OR apache-2.0)", TERMS)
    assert parsed.expression == "llama-3.1-community-license AND (MIT OR Apache-2.0)"
    assert parsed.ids == ("Apache-2.0", "MIT", "llama-3.1-community-license")
    assert parsed.cls is C.proprietary_terms
    # record ids may hold characters SPDX ids may not, and are case-sensitive
    parsed = parse_licence("acme/vision@2#eu~v1 OR cc-by-nc-nd-4.0", TERMS)
    assert (parsed.expression, parsed.cls) == (
        "acme/vision@2#eu~v1 OR CC-BY-NC-ND-4.0",
        C.non_commercial,
    )
    assert classify("Acme/Vision@2#EU~v1", TERMS) is C.unknown
    # a record id wins over a licence id of the same letters
    assert parse_licence("MIT-internal", TERMS).cls is C.research_only
    assert parse_licence("llama3.1 AND MIT-internal", TERMS).cls is C.research_only


def test_licence_symbols_are_as_written_for_terms_look_ups() -> None:
    text = "llama-3.1-community-license AND (mit OR acme/vision@2#eu~v1 OR mit)"
    assert licences.licence_symbols(text) == (
        "llama-3.1-community-license",
        "mit",
        "acme/vision@2#eu~v1",
    )
    assert licences.licence_symbols("MIT OR (") == ()
    assert licences.licence_symbols(None) == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("MIT OR (", "unbalanced parenthesis"),
        ("(MIT OR Apache-2.0))", "unbalanced parenthesis"),
        ("MIT Apache-2.0", "two licences without an operator between them near 'Apache-2.0'"),
        ("MIT OR", "an operator without a licence"),
        ("MIT AND OR Apache-2.0", "an operator without a licence near 'OR'"),
        ("(MIT OR Apache-2.0) WITH LLVM-exception", "WITH must join one licence and one exception"),
        ("MIT AND ()", "empty parentheses"),
        ("MIT, Apache-2.0", "character ',' in 'MIT,'"),
        ("", "no licence in it"),
        ("  ", "no licence in it"),
    ],
)
def test_a_syntax_error_raises_value_error_naming_the_problem(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_licence(text)
    assert str(caught.value) == f"invalid licence expression {text!r}: {reason}"
    with pytest.raises(ValueError, match="invalid licence expression"):
        normalise_licence(text)
    assert classify(text, TERMS) is C.unknown


def test_nesting_is_capped_and_a_deep_expression_still_parses() -> None:
    def nested(depth: int) -> str:
        ops = ("OR", "AND")
        return "".join(f"x-{i} {ops[i % 2]} (" for i in range(depth)) + "MIT" + ")" * depth

    assert parse_licence(nested(licences.MAX_DEPTH)).cls is C.unknown  # x-0 AND ...: unknown
    # the innermost "(MIT)" needs no parentheses
    assert parse_licence(nested(licences.MAX_DEPTH)).expression.count("(") == licences.MAX_DEPTH - 1
    too_deep = nested(licences.MAX_DEPTH + 1)
    with pytest.raises(ValueError, match=f"parentheses nested more than {licences.MAX_DEPTH} deep"):
        parse_licence(too_deep)
    assert classify(too_deep, {}) is C.unknown


def test_classify_of_nothing_is_unknown() -> None:
    assert classify(None, TERMS) is C.unknown
    assert classify("", TERMS) is C.unknown


@pytest.mark.parametrize(
    "text",
    [
        "cc-by-nc-4.0",
        "mit or cc-by-nc-4.0",
        "MIT OR GPL-3.0-only AND CC-BY-NC-4.0",
        "(mit and (bsd-3-clause or (apache-2.0 and isc)))",
        "a AND b AND c OR d",
        "gpl-2.0+ with classpath-exception-2.0",
        "llama-3.1-community-license or Acme-EULA",
        "acme/vision@2#eu~v1",
        "LLAMA3.1",
    ],
)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise_licence(text)
    assert normalise_licence(once) == once
    assert parse_licence(once).cls is parse_licence(text).cls


def test_normalise_makes_spellings_equal() -> None:
    assert normalise_licence("cc-by-nc-4.0") == normalise_licence("CC-BY-NC-4.0") == "CC-BY-NC-4.0"
    assert normalise_licence("mit  OR\tapache-2.0") == "MIT OR Apache-2.0"


def test_most_restrictive() -> None:
    assert most_restrictive([C.permissive, C.research_only, C.copyleft]) is C.research_only
    assert most_restrictive(iter([C.copyleft, C.permissive])) is C.copyleft
    assert most_restrictive([]) is C.unknown


# -- the data file ----------------------------------------------------------------------------


@pytest.mark.parametrize("hf_id", list(DATA["huggingface"]))
def test_every_hugging_face_id_parses_to_its_class_in_the_data_file(hf_id: str) -> None:
    parsed = parse_licence(hf_id)
    assert parsed.cls is C(DATA["huggingface"][hf_id])
    assert len(parsed.ids) == 1
    assert parse_licence(hf_id.upper()) == parsed  # any case, one spelling
    # the Hub's spelling, or the SPDX spelling of the same licence
    spdx = {symbol.key for symbol in licences._licensing().known_symbols.values()}
    assert parsed.expression == hf_id or parsed.expression in spdx


def test_the_hugging_face_list_is_the_hubs() -> None:
    # https://huggingface.co/docs/hub/repositories-licenses and the ids the brief names
    for hf_id in [
        "apache-2.0",
        "mit",
        "llama2",
        "llama3",
        "llama3.1",
        "llama3.2",
        "llama3.3",
        "llama4",
        "gemma",
        "openrail",
        "openrail++",
        "bigscience-openrail-m",
        "creativeml-openrail-m",
        "bigscience-bloom-rail-1.0",
        "apple-ascl",
        "cc-by-nc-4.0",
        "other",
        "unknown",
    ]:
        assert hf_id in DATA["huggingface"]
    assert classify("deepseek", {}) is C.proprietary_terms  # a card id the Hub does not list


def test_the_data_file_validates() -> None:
    data = load_licence_data()
    assert set(DATA) == {"huggingface", "licences", "scancode_categories"}
    assert data.huggingface == tuple(DATA["huggingface"])
    for section in ("huggingface", "licences", "scancode_categories"):
        assert {C(value) for value in DATA[section].values()} <= set(C)
    # every ScanCode category of the library's index has a class, and only those are listed
    index_categories = {entry["category"] for entry in licences._scancode_index()}
    assert set(DATA["scancode_categories"]) == index_categories
    # every SPDX/ScanCode id under `licences` is written in its SPDX spelling
    for key in DATA["licences"]:
        assert data.spelling[key.lower()] == key


@pytest.mark.parametrize(
    ("after", "entry", "message", "field"),
    [
        ("huggingface:", "  mit2: free", "Input should be 'permissive'", "huggingface.mit2"),
        (
            "licences:",
            "  bsd-4-clause: permissive",
            "write the SPDX spelling 'BSD-4-Clause'",
            "licences.bsd-4-clause",
        ),
        (
            "licences:",
            "  GPL-3.0-only: permissive",
            "'GPL-3.0-only' is already classed by huggingface.gpl-3.0",
            "licences.GPL-3.0-only",
        ),
        (
            "huggingface:",
            "  Llama5: proprietary_terms",
            "Hugging Face licence ids are lower-case",
            "huggingface.Llama5",
        ),
        ("licences:", "  a b: permissive", "not a licence id", "licences.a b"),
        ("licences:", "  OR: permissive", "not a licence id", "licences.OR"),
        (
            "scancode_categories:",
            "  Permissve: permissive",
            "unknown ScanCode category",
            "scancode_categories.Permissve",
        ),
        (None, "classes: {}", "unknown field", "classes"),
    ],
)
def test_a_bad_data_file_is_refused_with_file_line_and_field(
    tmp_path: Path, after: str | None, entry: str, message: str, field: str
) -> None:
    """``entry`` is written on the line after ``after`` (on the first line for None)."""
    lines = LICENCES_FILE.read_text(encoding="utf-8").splitlines()
    line = lines.index(after) + 2 if after else 1
    lines.insert(line - 1, entry)
    path = tmp_path / "licences.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_licence_data(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), line, field)
    assert message in problem.message


def test_the_data_file_is_the_only_source_of_classes() -> None:
    """No licence id appears in the module's code, and the only class it names is the
    fallback ``unknown`` (RANK aside): a class table in the .py would show up here."""
    source = Path(licences.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    ids = {key.lower() for section in ("huggingface", "licences") for key in DATA[section]}
    strings = {
        node.value.lower()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not (strings - {c.value for c in C}) & ids
    named = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "LicenceClass"
    ]
    # each class but the fallback is named once: in RANK
    assert sorted(name for name in named if name != "unknown") == sorted(
        c.name for c in C if c is not C.unknown
    )
