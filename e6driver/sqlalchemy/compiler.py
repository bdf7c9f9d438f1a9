"""SQL, DDL and type compilers for the e6data SQL surface (as served by the local DuckDB-backed engine)."""
from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy
from sqlalchemy import cast, exc, func
from sqlalchemy.sql import coercions, compiler, expression, roles, sqltypes


# Words the engine's parser keeps for itself (beyond SQLAlchemy's ANSI list): as bare identifiers they are
# syntax errors (``at``, ``asof``, ``semi``...) or are read as types and functions (``map``, ``time``...).
ENGINE_RESERVED_WORDS = frozenset("""
    anti asof at bigint bit boolean by char character coalesce collation columns concurrently dec decimal describe
    exists extract fetch float generated glob grouping grouping_id inout int integer interval lambda lateral map
    national nchar none nullif numeric out overlay pivot pivot_longer pivot_wider position positional precision
    qualify real returning row semi setof show smallint struct substring summarize tablesample time timestamp
    treat trim try_cast tuple unpack unpivot values varchar variadic window with xmlattributes xmlconcat
    xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
""".split())


class E6IdentifierPreparer(compiler.IdentifierPreparer):
    reserved_words = compiler.RESERVED_WORDS | ENGINE_RESERVED_WORDS


class E6Compiler(compiler.SQLCompiler):
    if sqlalchemy.__version__.startswith("1."):  # pragma: no cover - 2.x renders RETURNING for every dialect

        def returning_clause(self, stmt, returning_cols):
            columns = [self._label_returning_column(stmt, column, fallback_label_name=column._non_anon_label)
                       for column in expression._select_iterables(returning_cols)]
            return "RETURNING " + ", ".join(columns)

    def limit_clause(self, select, **kw):
        # OFFSET stands alone: the engine rejects the "LIMIT -1" that the generic compiler puts before it.
        text = ""
        if select._limit_clause is not None:
            text += "\n LIMIT " + self.process(select._limit_clause, **kw)
        if select._offset_clause is not None:
            text += "\n OFFSET " + self.process(select._offset_clause, **kw)
        return text

    def render_literal_value(self, value, type_):
        # String literals use backslash escapes on the engine (spec §10), so a literal backslash is doubled.
        return super().render_literal_value(value, type_).replace("\\", "\\\\")

    def update_from_clause(self, update_stmt, from_table, extra_froms, from_hints, **kw):
        kw["asfrom"] = True
        return "FROM " + ", ".join(t._compiler_dispatch(self, fromhints=from_hints, **kw) for t in extra_froms)

    def delete_extra_from_clause(self, delete_stmt, from_table, extra_froms, from_hints, **kw):
        kw["asfrom"] = True
        return "USING " + ", ".join(t._compiler_dispatch(self, fromhints=from_hints, **kw) for t in extra_froms)

    def visit_bitwise_xor_op_binary(self, binary, operator, **kw):
        # "^" is exponentiation on the engine.
        return f"xor({self.process(binary.left, **kw)}, {self.process(binary.right, **kw)})"

    def visit_regexp_match_op_binary(self, binary, operator, **kw):
        return self._regexp_call("regexp_matches", binary, "", kw)

    def visit_not_regexp_match_op_binary(self, binary, operator, **kw):
        return "NOT " + self._regexp_call("regexp_matches", binary, "", kw)

    def visit_regexp_replace_op_binary(self, binary, operator, **kw):
        # SQLAlchemy's regexp_replace() replaces every match: the engine's 'g' option.
        return self._regexp_call("regexp_replace", binary, "g", kw)

    def _regexp_call(self, function, binary, options, kw):
        # binary.right renders as "pattern" or, for a replacement, "pattern, replacement".
        options = (binary.modifiers["flags"] or "") + options
        args = f"{self.process(binary.left, **kw)}, {self.process(binary.right, **kw)}"
        if options:
            args += ", " + self.render_literal_value(options, sqltypes.STRINGTYPE)
        return f"{function}({args})"


    # ---- INSERT ... ON CONFLICT (e6driver.sqlalchemy.dml.Insert)
    def _on_conflict_target(self, clause, **kw) -> str:
        if clause.inferred_target_elements is None:
            return ""
        columns = ", ".join(self.preparer.quote(column) if isinstance(column, str)
                            else self.process(column, include_table=False, use_schema=False)
                            for column in clause.inferred_target_elements)
        text = f"({columns}) "
        if clause.inferred_target_whereclause is not None:
            text += "WHERE " + self.process(clause.inferred_target_whereclause, include_table=False, use_schema=False,
                                            literal_execute=True) + " "
        return text

    def visit_on_conflict_do_nothing(self, on_conflict, **kw):
        return f"ON CONFLICT {self._on_conflict_target(on_conflict, **kw)}DO NOTHING"

    def visit_on_conflict_do_update(self, on_conflict, **kw):
        to_set = dict(on_conflict.update_values_to_set)
        table = self.stack[-1]["selectable"].table
        columns = table.c
        assignments = []
        for column in columns:  # the table's order; a key may be the column's key or the column itself
            if column.key in to_set:
                value = to_set.pop(column.key)
            elif column in to_set:
                value = to_set.pop(column)
            else:
                continue
            value = coercions.expect(roles.ExpressionElementRole, value, type_=column.type)
            assignments.append(f"{self.preparer.quote(column.name)} = "
                               f"{self.process(value.self_group(), use_schema=False, **kw)}")
        if to_set:
            names = ", ".join(repr(key if isinstance(key, str) else getattr(key, "key", key)) for key in to_set)
            raise exc.CompileError(f"ON CONFLICT DO UPDATE sets {names}: not columns of table {table.name!r}")
        text = f"ON CONFLICT {self._on_conflict_target(on_conflict, **kw)}DO UPDATE SET " + ", ".join(assignments)
        if on_conflict.update_whereclause is not None:
            text += " WHERE " + self.process(on_conflict.update_whereclause, include_table=True, use_schema=False,
                                             **kw)
        return text

    def visit_sequence(self, sequence, **kw):
        return self.nextval(self.preparer.format_sequence(sequence))

    def nextval(self, sequence_name: str) -> str:
        """``nextval('<sequence>')`` for a sequence name as the preparer formats it (an INSERT's key, a DDL default)."""
        return f"nextval({self.render_literal_value(sequence_name, sqltypes.STRINGTYPE)})"

    def visit_getitem_binary(self, binary, operator, **kw):  # ARRAY indexes and slices: 1-based, inclusive
        return f"{self.process(binary.left, **kw)}[{self.process(binary.right, **kw)}]"

    def visit_slice(self, element, **kw):
        return f"{self.process(element.start, **kw)}:{self.process(element.stop, **kw)}"

    def visit_json_getitem_op_binary(self, binary, operator, **kw):
        return self._json_extract(binary, **kw)

    def visit_json_path_getitem_op_binary(self, binary, operator, **kw):
        return self._json_extract(binary, **kw)

    def _json_extract(self, binary, **kw):
        # An element as JSON (json_extract: the JSON type's result processor parses it), or as_string(),
        # as_integer()... as that type: its JSON text unquoted (json_extract_string), cast.
        if binary.type._type_affinity is sqltypes.JSON:
            return self.process(func.json_extract(binary.left, binary.right), **kw)
        text = func.json_extract_string(binary.left, binary.right, type_=sqltypes.STRINGTYPE)
        return self.process(text if binary.type._type_affinity is sqltypes.String else cast(text, binary.type), **kw)


_IDENTITY_OPTIONS = ("increment", "start", "minvalue", "maxvalue", "nominvalue", "nomaxvalue", "cycle", "order")


def _generated_key(column) -> bool:
    """Whether the engine generates ``column``'s values from a sequence of its own (E6DDLCompiler)."""
    if column.identity is not None:
        return True
    return column is column.table._autoincrement_column and column.default is None and \
        column.server_default is None


class E6DDLCompiler(compiler.DDLCompiler):
    # Generated keys (a sqlalchemy.Identity(), or an integer primary key SQLAlchemy would autoincrement, as
    # PostgreSQL's SERIAL): the engine has no identity columns, so the column's default is nextval() of a
    # sequence of its own (<table>_<column>_seq), made in the same statement string as the table and dropped
    # with it. Keys are generated as BY DEFAULT (always=True cannot refuse given keys).
    def visit_create_table(self, create, **kw):
        text = super().visit_create_table(create, **kw)
        create_sequence = "CREATE SEQUENCE IF NOT EXISTS" if getattr(create, "if_not_exists", False) else \
            "CREATE OR REPLACE SEQUENCE"  # a sequence left by a table dropped without its identity known
        sequences = [f"{create_sequence} {self._identity_sequence(column)} "
                     f"{self.get_identity_options(column.identity) if column.identity is not None else ''}"
                     for column in create.element.columns if _generated_key(column)]
        return ";\n".join([*(sequence.rstrip() for sequence in sequences), text])

    def visit_drop_table(self, drop, **kw):
        text = super().visit_drop_table(drop, **kw)
        return ";\n".join([text, *(f"DROP SEQUENCE IF EXISTS {self._identity_sequence(column)}"
                                   for column in drop.element.columns if _generated_key(column))])

    def get_column_default_string(self, column):
        if _generated_key(column):
            return self.sql_compiler.nextval(self._identity_sequence(column))
        return super().get_column_default_string(column)

    def _identity_sequence(self, column) -> str:
        schema = self.preparer.schema_for_object(column.table)
        name = self.preparer.quote(f"{column.table.name}_{column.name}_seq")
        return f"{self.preparer.quote_schema(schema)}.{name}" if schema else name

    def get_identity_options(self, identity_options):
        # The engine's sequences have no CACHE clause; a cache is a speed hint, never a change of values.
        options = {name: getattr(identity_options, name, None) for name in _IDENTITY_OPTIONS}
        return super().get_identity_options(SimpleNamespace(**options, cache=None))

    def visit_foreign_key_constraint(self, constraint, **kw):
        # Not rendered: e6data engines do not enforce referential integrity, and the local engine checks it
        # per statement, which rejects ordinary multi-row inserts into self-referencing tables.
        return None


class E6TypeCompiler(compiler.GenericTypeCompiler):
    # DDL spellings understood by the local engine (DuckDB).
    def visit_E6_ARRAY(self, type_, **kw):
        return f"{self.process(type_.item_type, **kw)}[]"

    def visit_ARRAY(self, type_, **kw):  # the generic ARRAY: one [] per dimension
        return self.process(type_.item_type, **kw) + "[]" * (type_.dimensions or 1)

    def visit_E6_MAP(self, type_, **kw):
        return f"MAP({self.process(type_.key_type, **kw)}, {self.process(type_.value_type, **kw)})"

    def visit_E6_STRUCT(self, type_, **kw):
        fields = ", ".join(
            f"{self.dialect.identifier_preparer.quote(name)} {self.process(t, **kw)}" for name, t in type_.fields
        )
        return f"STRUCT({fields})"

    def visit_float(self, type_, **kw):
        # The generic Float is a Python float: 8 bytes. The engine's FLOAT is 4 bytes (REAL).
        return "DOUBLE"

    def visit_DOUBLE(self, type_, **kw):  # SQLAlchemy 1.4's type compiler has none
        return "DOUBLE"

    def visit_INTERVAL(self, type_, **kw):
        return "INTERVAL"

    def visit_TIMESTAMP(self, type_, **kw):
        return "TIMESTAMP WITH TIME ZONE" if getattr(type_, "timezone", False) else "TIMESTAMP"

    def visit_DATETIME(self, type_, **kw):
        return self.visit_TIMESTAMP(type_, **kw)

    def visit_BLOB(self, type_, **kw):
        return "BLOB"

    def visit_VARBINARY(self, type_, **kw):
        return "BLOB"

    def visit_BINARY(self, type_, **kw):
        return "BLOB"

    def visit_JSON(self, type_, **kw):
        return "JSON"

    def visit_large_binary(self, type_, **kw):
        return "BLOB"
