"""Browsing calls: catalogs, schemas, tables, columns, dry runs and the health check (spec §5)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._proto import e6x_engine_pb2 as pb
from ..errors import NotSupportedError
from .session import Session


def health_check(session: Session) -> None:
    """Raise unless the server answers a real RPC with this session's credentials."""
    try:
        session.call("healthCheck", lambda sid: pb.HealthCheckRequest(), needs_session=False)
    except NotSupportedError:
        pass  # an engine without healthCheck: the session RPC below proves liveness
    session.session_id()


def schema_names(session: Session, catalog: Optional[str]) -> List[str]:
    response = session.call("getSchemaNamesV2", lambda sid: pb.GetSchemaNamesV2Request(
        sessionId=sid, catalog=catalog or ""))
    return list(response.schemas)


def tables(session: Session, catalog: Optional[str], schema: Optional[str]) -> List[str]:
    response = session.call("getTablesV2", lambda sid: pb.GetTablesV2Request(
        sessionId=sid, schema=schema or "", catalog=catalog or ""))
    return list(response.tables)


def columns(session: Session, catalog: Optional[str], schema: Optional[str], table: str) -> List[Dict[str, str]]:
    response = session.call("getColumnsV2", lambda sid: pb.GetColumnsV2Request(
        sessionId=sid, schema=schema or "", table=table, catalog=catalog or ""))
    return [{"fieldName": field.fieldName, "fieldType": field.fieldType} for field in response.fieldInfo]


def catalogs(session: Session) -> List[Dict[str, Any]]:
    response = session.call("getCataloges", lambda sid: pb.GetCatalogesRequest(), needs_session=False)
    return [{"name": c.name, "isDefault": c.isDefault} for c in response.catalogResponses]


def dry_run(session: Session, query: str, catalog: Optional[str], schema: Optional[str]) -> str:
    if catalog:
        response = session.call("dryRunV2", lambda sid: pb.DryRunRequestV2(
            sessionId=sid, schema=schema or "", queryString=query, catalog=catalog))
    else:
        response = session.call("dryRun", lambda sid: pb.DryRunRequest(
            sessionId=sid, schema=schema or "", queryString=query))
    return response.dryrunValue
