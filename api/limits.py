"""The cost budget: what a GraphQL request may ask of the database, worked out from the parsed query
before any resolver runs (on top of the depth, alias and token limits).

The cost of a request is the sum over its fields, each counted as many times as it can be resolved:

- a field that returns an object or a list of objects costs FIELD_COST (1): it is a load;
  a scalar or enum field costs nothing (it is read from what its parent loaded);
- a field with a `maxHops` argument costs HOP_COST per hop (each hop is one query over the frontier);
- the fields under a list are counted once per item it may return: `first` or `limit` when the
  field takes one (the value given, or the argument's default), REACH_SIZE[hops] for a `maxHops` list,
  DEFAULT_LIST_SIZE for any other list; under a paginated field (one with `first`/`limit`) its
  `edges`/`nodes` list is the page itself and multiplies nothing more. Nesting multiplies.

The rules read the schema, so a new field with `first`, `limit` or `maxHops` is covered without a
change here; FIELD_OVERRIDES adjusts a field whose real cost the rules misjudge. The budget is
ITAM_QUERY_BUDGET (default 5000): a request over it is refused, naming its cost and the budget.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLField,
                     GraphQLObjectType, InlineFragmentNode, OperationDefinitionNode, SelectionSetNode,
                     VariableNode, get_named_type, get_nullable_type, is_leaf_type, is_list_type, value_from_ast)
from strawberry.extensions import SchemaExtension

from graph.config import positive_int_env

DEFAULT_BUDGET = 5000
FIELD_COST = 1
HOP_COST = 10
DEFAULT_LIST_SIZE = 20
PAGE_ARGUMENTS = ("first", "limit")
PAGE_LISTS = ("edges", "nodes")
REACH_SIZE = {1: 50, 2: 500, 3: 500}      # hosts one asset reaches, by hops (MAX_REACHABLE caps it at 500)


@dataclass(frozen=True)
class FieldCost:
    """A field's own cost and, for a list, how many items it may return (None: the rules decide)."""
    cost: int | None = None
    size: int | None = None


# "Type.field" -> what the rules above would get wrong. Empty is fine: the defaults cover new fields.
FIELD_OVERRIDES: dict[str, FieldCost] = {}


def query_budget() -> int:
    """ITAM_QUERY_BUDGET, or the default."""
    return positive_int_env("ITAM_QUERY_BUDGET", DEFAULT_BUDGET)


class QueryCost:
    """Walks one operation with the schema's types, arguments resolved from literals, variables and
    defaults."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any] | None):
        self.fragments = fragments
        self.variables = dict(variables or {})

    def of_operation(self, operation: OperationDefinitionNode, root: GraphQLObjectType) -> int:
        return self.of_selections(operation.selection_set, root, multiplier=1, paginated=False)

    def of_selections(self, selections: SelectionSetNode | None, parent: GraphQLObjectType, multiplier: int,
                      paginated: bool) -> int:
        total = 0
        for field_node, owner in self._fields(selections, parent):
            field = owner.fields.get(field_node.name.value)
            if field is None:                    # __typename and other introspection: free
                continue
            total += self.of_field(field_node, field, owner, multiplier, paginated)
        return total

    def of_field(self, node: FieldNode, field: GraphQLField, owner: GraphQLObjectType, multiplier: int,
                 paginated: bool) -> int:
        args = self._arguments(node, field)
        override = FIELD_OVERRIDES.get(f"{owner.name}.{node.name.value}", FieldCost())
        returned = get_nullable_type(field.type)
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return multiplier * (override.cost or 0)
        hops = args.get("maxHops")
        own = override.cost if override.cost is not None else FIELD_COST + (HOP_COST * hops if hops else 0)
        page = next((args[a] for a in PAGE_ARGUMENTS if isinstance(args.get(a), int)), None)
        if override.size is not None:
            size = override.size
        elif page is not None:
            size = page
        elif is_list_type(returned):
            if paginated and node.name.value in PAGE_LISTS:
                size = 1                         # the page its parent already counted
            elif hops:
                size = REACH_SIZE.get(hops, max(REACH_SIZE.values()))
            else:
                size = DEFAULT_LIST_SIZE
        else:
            size = 1
        if not isinstance(named, GraphQLObjectType):
            return multiplier * own               # interfaces and unions: not in this schema yet
        children = self.of_selections(node.selection_set, named, multiplier * max(size, 0),
                                      paginated=page is not None)
        return multiplier * own + children

    def _fields(self, selections: SelectionSetNode | None,
                parent: GraphQLObjectType) -> Iterator[tuple[FieldNode, GraphQLObjectType]]:
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(selection.selection_set, parent)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._fields(fragment.selection_set, parent)

    def _arguments(self, node: FieldNode, field: GraphQLField) -> dict[str, Any]:
        """Argument values as the resolver will see them: literal, variable, else the default."""
        given = {arg.name.value: arg.value for arg in node.arguments or ()}
        values: dict[str, Any] = {}
        for name, argument in field.args.items():
            value_node = given.get(name)
            if value_node is None:
                value = argument.default_value
            elif isinstance(value_node, VariableNode):
                value = self.variables.get(value_node.name.value, argument.default_value)
            else:
                value = value_from_ast(value_node, argument.type, self.variables)
            values[name] = value
        return values


class CostLimiter(SchemaExtension):
    """Refuses a request whose cost is over the budget, before any resolver (or Cypher) runs.

    Runs after validation (place it after ValidationCache): an invalid query gets the validation
    errors, not a cost."""

    def __init__(self, budget: int | None = None):
        super().__init__()
        self.budget = budget if budget is not None else query_budget()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            cost = request_cost(context.schema._schema, context.graphql_document, context.operation_name,
                                context.variables)
            if cost > self.budget:
                context.pre_execution_errors = [GraphQLError(
                    f"query cost {cost} is over the budget of {self.budget} (ITAM_QUERY_BUDGET): ask for fewer "
                    "items (first, maxHops) or nest fewer lists")]
        yield


def request_cost(schema, document, operation_name: str | None, variables: Mapping[str, Any] | None) -> int:
    """The cost of the operation a request runs (the named one, else the only one)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    cost = QueryCost(fragments, variables)
    return max((cost.of_operation(o, schema.get_root_type(o.operation)) for o in chosen), default=0)
