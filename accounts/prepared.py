"""Reads on every API request, compiled to SQL once per process instead of once per request.

A status read runs two single-row lookups (the key with its tenant, the task). The database answers
each in a few microseconds, but building the SQL from a QuerySet took Django about 0.5 ms a query,
more than the rest of the request. ``Prepared`` builds the QuerySet once, from stand-in values,
keeps its SQL, and from then on only swaps the real values into the parameters and turns the row
into model instances as the QuerySet would have (select_related rows and annotations included).

Only the SQL is kept: every call reads the database, so a revoked key or a changed row is seen at
once. The QuerySet must not depend on anything but the stand-ins (a constant filter is fine: it
is the same every time). It is compiled on first use in each process and database; two threads
that both find it missing both compile it, and either result serves.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import signals
from django.db.models.query import get_related_populators


class Prepared:
    """``build(*stand_ins)`` returns the QuerySet of at most one row (a lookup on a unique field);
    ``get(*values)`` runs it with ``values`` in place of the stand-ins: the instance, or None.

    A stand-in must reach the SQL parameters unchanged (a string for a text column, an integer for
    an integer or foreign key column) and be a value no constant of the query has."""

    def __init__(self, build, *stand_ins):
        self.build = build
        self.stand_ins = stand_ins
        self._compiled = {}  # database alias -> _Compiled

    def get(self, *values, using=DEFAULT_DB_ALIAS):
        compiled = self._compiled.get(using)
        if compiled is None:
            compiled = self._compiled[using] = _Compiled(self.build(*self.stand_ins), self.stand_ins, using)
        return compiled.get(values)


class _Compiled:
    def __init__(self, queryset, stand_ins, using):
        compiler = queryset.order_by().query.get_compiler(using=using)  # one row: nothing to order
        self.sql, params = compiler.as_sql()  # also fills compiler.select, klass_info, annotation_col_map
        self.params = list(params)
        self.positions = []
        for stand_in in stand_ins:
            positions = [index for index, param in enumerate(self.params) if param == stand_in]
            if len(positions) != 1:
                raise ValueError(f"The stand-in {stand_in!r} is {len(positions)} of the query's parameters, not 1.")
            self.positions.append(positions[0])
        self.using = using
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.model_columns = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.model_columns]]
        self.related = get_related_populators(klass_info, select, using)
        self.annotations = list(compiler.annotation_col_map.items())
        self.converters = list(compiler.get_converters([column[0] for column in select]).items())

    def get(self, values):
        params = list(self.params)
        for position, value in zip(self.positions, values, strict=True):
            params[position] = value
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, (functions, expression) in self.converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        instance = self.model.from_db(self.using, self.init_list, row[self.model_columns])
        for populator in self.related:
            populator.populate(row, instance)
        for name, position in self.annotations:
            setattr(instance, name, row[position])
        return instance


def insert(instance):
    """``instance.save(force_insert=True)`` for a new row, as one INSERT whose SQL is built once per
    model (on a create, the ORM took longer to build these statements than the database to run them);
    each value is prepared as the ORM prepares it. Signals are sent through save() itself whenever
    anything listens to them."""
    model = type(instance)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        instance.save(force_insert=True)
        return instance
    fields, sql = _insert_sql(model, connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@functools.cache
def _insert_sql(model, vendor):
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [field for field in meta.local_concrete_fields if not field.primary_key and not field.generated]
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join("%s" for _ in fields)
    return fields, f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) RETURNING {quote(meta.pk.column)}"
