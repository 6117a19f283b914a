"""The GraphQL API's operations, read from the running schema by introspection, so a test that walks
them covers a new query, mutation or argument without being told."""
from __future__ import annotations

from dataclasses import dataclass

INTROSPECT = """
{ __schema {
    queryType { name } mutationType { name }
    types { name kind fields { name args { name defaultValue
      type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
      type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
      enumValues { name } } } }
"""

# A plain value of each named input type, for required arguments a test is not varying.
PLAIN = {"String": "x", "ID": "x", "Int": 1, "Float": 1.0, "Boolean": False, "Date": "2026-01-01",
         "DateTime": "2026-01-01T00:00:00Z", "JSON": {}}


@dataclass(frozen=True)
class Argument:
    name: str
    type_text: str        # as written in a variable declaration, e.g. "[String!]", "ID!"
    named: str            # the innermost named type
    is_list: bool
    required: bool


@dataclass(frozen=True)
class Operation:
    kind: str             # "query" or "mutation"
    field: str
    args: tuple[Argument, ...]
    returns_object: bool

    @property
    def name(self) -> str:
        return f"{self.kind} {self.field}"

    def document(self) -> str:
        """The operation with every argument passed as a variable; objects select __typename."""
        declared = "".join(f"${a.name}: {a.type_text}, " for a in self.args).rstrip(", ")
        passed = ", ".join(f"{a.name}: ${a.name}" for a in self.args)
        return (f"{self.kind} Probe{'(' + declared + ')' if declared else ''} "
                f"{{ {self.field}{'(' + passed + ')' if passed else ''}{' { __typename }' if self.returns_object else ''} }}")


def _type_text(ref: dict) -> tuple[str, str, bool]:
    if ref["kind"] == "NON_NULL":
        inner, named, is_list = _type_text(ref["ofType"])
        return inner + "!", named, is_list
    if ref["kind"] == "LIST":
        inner, named, _ = _type_text(ref["ofType"])
        return f"[{inner}]", named, True
    return ref["name"], ref["name"], False


def _innermost_kind(ref: dict) -> str:
    while ref["kind"] in ("NON_NULL", "LIST"):
        ref = ref["ofType"]
    return ref["kind"]


def operations(introspection: dict) -> tuple[list[Operation], dict[str, list[str]], dict[str, dict]]:
    """Every query and mutation field; the enum values by enum name; every type by name."""
    schema = introspection["__schema"]
    types = {t["name"]: t for t in schema["types"]}
    enums = {name: [v["name"] for v in t["enumValues"]] for name, t in types.items() if t["kind"] == "ENUM"}
    found = []
    for kind, root in (("query", schema["queryType"]), ("mutation", schema["mutationType"])):
        for field in types[root["name"]]["fields"] if root else ():
            args = []
            for arg in field["args"]:
                text, named, is_list = _type_text(arg["type"])
                args.append(Argument(arg["name"], text, named, is_list, text.endswith("!")))
            found.append(Operation(kind, field["name"], tuple(args),
                                   _innermost_kind(field["type"]) in ("OBJECT", "INTERFACE", "UNION")))
    return found, enums, types


def plain_variables(operation: Operation, enums: dict[str, list[str]]) -> dict:
    """A value for every required argument (optional ones are left to their defaults)."""
    values = {}
    for arg in operation.args:
        if arg.required:
            value = enums[arg.named][0] if arg.named in enums else PLAIN[arg.named]
            values[arg.name] = [value] if arg.is_list else value
    return values
