"""Browsing calls: catalogs, schemas, tables, columns, dry runs and the health check (spec §5).

Each is a plan (``plan.py``); the plain functions run it on a blocking :class:`Session`, the asyncio connection
runs the same plans on its ``AsyncSession``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._proto import e6x_engine_pb2 as pb
from ..errors import NotSupportedError
from .plan import EnsureSession, Plan
from .session import Session, SessionRules


def health_check_plan(session: SessionRules) -> Plan:
    """Fail unless the server answers a real RPC with this session's credentials."""
    try:
        yield from session.call_plan("healthCheck", lambda sid: pb.HealthCheckRequest(), needs_session=False)
    except NotSupportedError:
        pass  # an engine without healthCheck: the session below proves liveness
    yield EnsureSession()


def schema_names_plan(session: SessionRules, catalog: Optional[str]) -> Plan:
    response = yield from session.call_plan("getSchemaNamesV2", lambda sid: pb.GetSchemaNamesV2Request(
        sessionId=sid, catalog=catalog or ""))
    return list(response.schemas)


def tables_plan(session: SessionRules, catalog: Optional[str], schema: Optional[str]) -> Plan:
    response = yield from session.call_plan("getTablesV2", lambda sid: pb.GetTablesV2Request(
        sessionId=sid, schema=schema or "", catalog=catalog or ""))
    return list(response.tables)


def columns_plan(session: SessionRules, catalog: Optional[str], schema: Optional[str], table: str) -> Plan:
    response = yield from session.call_plan("getColumnsV2", lambda sid: pb.GetColumnsV2Request(
        sessionId=sid, schema=schema or "", table=table, catalog=catalog or ""))
    return [{"fieldName": field.fieldName, "fieldType": field.fieldType} for field in response.fieldInfo]


def catalogs_plan(session: SessionRules) -> Plan:
    response = yield from session.call_plan("getCataloges", lambda sid: pb.GetCatalogesRequest(),
                                            needs_session=False)
    return [{"name": c.name, "isDefault": c.isDefault} for c in response.catalogResponses]


def dry_run_plan(session: SessionRules, query: str, catalog: Optional[str], schema: Optional[str]) -> Plan:
    if catalog:
        response = yield from session.call_plan("dryRunV2", lambda sid: pb.DryRunRequestV2(
            sessionId=sid, schema=schema or "", queryString=query, catalog=catalog))
    else:
        response = yield from session.call_plan("dryRun", lambda sid: pb.DryRunRequest(
            sessionId=sid, schema=schema or "", queryString=query))
    return response.dryrunValue


def health_check(session: Session) -> None:
    session.run(health_check_plan(session))


def schema_names(session: Session, catalog: Optional[str]) -> List[str]:
    return session.run(schema_names_plan(session, catalog))


def tables(session: Session, catalog: Optional[str], schema: Optional[str]) -> List[str]:
    return session.run(tables_plan(session, catalog, schema))


def columns(session: Session, catalog: Optional[str], schema: Optional[str], table: str) -> List[Dict[str, str]]:
    return session.run(columns_plan(session, catalog, schema, table))


def catalogs(session: Session) -> List[Dict[str, Any]]:
    return session.run(catalogs_plan(session))


def dry_run(session: Session, query: str, catalog: Optional[str], schema: Optional[str]) -> str:
    return session.run(dry_run_plan(session, query, catalog, schema))
