"""The generated protobuf descriptors match the wire contract of spec §1.3, §2 and §2.7.

The expected tables below are transcribed from ../shared/spec/wire-protocol.md independently of protos/*.proto:
a renumbered or retyped field in the .proto files fails here before it breaks interop.
"""
import pytest
from google.protobuf.descriptor import FieldDescriptor as F

from e6driver._proto import cluster_pb2, cluster_pb2_grpc, e6x_engine_pb2, e6x_engine_pb2_grpc

S, B, BOOL = F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_BOOL
SINT64, SINT32, INT64, INT32, MSG = F.TYPE_SINT64, F.TYPE_SINT32, F.TYPE_INT64, F.TYPE_INT32, F.TYPE_MESSAGE
TRIPLE = {"engineIP": (1, S), "sessionId": (2, S), "queryId": (3, S)}

EXPECTED = {
    "AuthenticateRequest": {"user": (1, S), "password": (2, S), "userNameForImpersonation": (3, S),
                            "customIdentityClaim": (4, S)},
    "AuthenticateResponse": {"sessionId": (1, S), "new_strategy": (2, S), "engineIP": (3, S)},
    "PrepareStatementRequest": {"sessionId": (1, S), "schema": (2, S), "queryString": (3, S), "quoting": (4, S),
                                "plannerIp": (5, S), "existingQuery": (6, MSG)},
    "PrepareStatementV2Request": {"sessionId": (1, S), "schema": (2, S), "catalog": (3, S), "queryString": (4, S),
                                  "quoting": (5, S), "plannerIp": (6, S), "existingQuery": (7, MSG)},
    "PrepareStatementResponse": {"engineIP": (1, S), "queryId": (2, S), "sessionId": (3, S),
                                 "new_strategy": (4, S)},
    "ExecuteStatementRequest": {**TRIPLE, "shouldNotCache": (4, BOOL)},
    "ExecuteStatementV2Request": {**TRIPLE, "shouldNotCache": (4, BOOL), "params": (5, MSG)},
    "ParameterValue": {"index": (1, SINT32), "type": (2, S), "value": (3, S)},
    "ExistingQuery": {"queryId": (1, S), "elapsedTimeMillis": (2, INT64)},
    "ExecuteStatementResponse": {"sessionId": (1, S), "new_strategy": (2, S)},
    "GetResultMetadataRequest": TRIPLE,
    "GetResultMetadataResponse": {"resultMetaData": (1, B), "sessionId": (2, S), "new_strategy": (3, S)},
    "GetNextResultBatchRequest": TRIPLE,
    "GetNextResultBatchResponse": {"resultBatch": (2, B), "sessionId": (3, S), "new_strategy": (4, S)},
    "GetNextResultBatchV2Response": {"resultBatches": (1, B), "sessionId": (2, S), "new_strategy": (3, S),
                                     "endOfStream": (4, BOOL)},
    "StatusRequest": TRIPLE,
    "StatusResponse": {"status": (2, BOOL), "rowCount": (3, SINT64), "sessionId": (4, S), "new_strategy": (5, S)},
    "ExplainRequest": TRIPLE,
    "ExplainResponse": {"explain": (1, S), "sessionId": (2, S), "new_strategy": (3, S)},
    "ExplainAnalyzeRequest": TRIPLE,
    "ExplainAnalyzeResponse": {"explainAnalyze": (1, S), "isCached": (2, BOOL), "parsingTime": (3, SINT64),
                               "queueingTime": (4, SINT64), "sessionId": (5, S), "new_strategy": (6, S)},
    "ClearRequest": TRIPLE,
    "ClearResponse": {"sessionId": (1, S), "new_strategy": (2, S)},
    "CancelQueryRequest": TRIPLE,
    "CancelQueryResponse": {"sessionId": (1, S), "new_strategy": (2, S)},
    "ClearOrCancelQueryRequest": {**TRIPLE, "isDone": (4, BOOL)},
    "ClearOrCancelQueryResponse": {"sessionId": (1, S), "new_strategy": (2, S)},
    "GetSchemaNamesV2Request": {"sessionId": (1, S), "catalog": (2, S)},
    "GetSchemaNamesResponse": {"schemas": (1, S), "sessionId": (2, S), "new_strategy": (3, S)},
    "GetTablesV2Request": {"sessionId": (1, S), "schema": (2, S), "catalog": (3, S)},
    "GetTablesResponse": {"tables": (1, S), "sessionId": (2, S), "new_strategy": (3, S)},
    "GetColumnsV2Request": {"sessionId": (1, S), "schema": (2, S), "table": (3, S), "catalog": (4, S)},
    "GetColumnsResponse": {"fieldInfo": (1, MSG), "sessionId": (2, S), "new_strategy": (3, S)},
    "GFieldInfo": {"fieldName": (1, S), "fieldType": (2, S)},
    "GetCatalogesRequest": {},
    "GetCatalogesResponse": {"catalogResponses": (1, MSG)},
    "CatalogResponse": {"name": (1, S), "isDefault": (2, BOOL)},
    "DryRunRequest": {"engineIP": (1, S), "sessionId": (2, S), "schema": (3, S), "queryString": (4, S)},
    "DryRunRequestV2": {"engineIP": (1, S), "sessionId": (2, S), "schema": (3, S), "queryString": (4, S),
                        "catalog": (5, S)},
    "DryRunResponse": {"dryrunValue": (1, S)},
    "HealthCheckRequest": {},
    "HealthCheckResponse": {},
}

EXPECTED_CLUSTER = {
    "ClusterStatusRequest": {"user": (1, S), "password": (2, S)},
    "ClusterStatusResponse": {"status": (1, S)},
    "ResumeRequest": {"user": (1, S), "password": (2, S)},
    "ResumeResponse": {"status": (1, S)},
    "SuspendRequest": {"user": (1, S), "password": (2, S)},
    "SuspendResponse": {"status": (1, S)},
}

REPEATED = {("GetNextResultBatchV2Response", "resultBatches"), ("GetSchemaNamesResponse", "schemas"),
            ("GetTablesResponse", "tables"), ("GetColumnsResponse", "fieldInfo"),
            ("GetCatalogesResponse", "catalogResponses"), ("ExecuteStatementV2Request", "params")}

# RPCs the official client calls (spec §1.3), with request/response message names.
USED_RPCS = {
    "authenticate": ("AuthenticateRequest", "AuthenticateResponse"),
    "prepareStatement": ("PrepareStatementRequest", "PrepareStatementResponse"),
    "prepareStatementV2": ("PrepareStatementV2Request", "PrepareStatementResponse"),
    "executeStatement": ("ExecuteStatementRequest", "ExecuteStatementResponse"),
    "executeStatementV2": ("ExecuteStatementV2Request", "ExecuteStatementResponse"),
    "getResultMetadata": ("GetResultMetadataRequest", "GetResultMetadataResponse"),
    "getNextResultBatch": ("GetNextResultBatchRequest", "GetNextResultBatchResponse"),
    "getNextResultBatchV2": ("GetNextResultBatchRequest", "GetNextResultBatchV2Response"),
    "explainAnalyze": ("ExplainAnalyzeRequest", "ExplainAnalyzeResponse"),
    "clear": ("ClearRequest", "ClearResponse"),
    "cancelQuery": ("CancelQueryRequest", "CancelQueryResponse"),
    "clearOrCancelQuery": ("ClearOrCancelQueryRequest", "ClearOrCancelQueryResponse"),
    "healthCheck": ("HealthCheckRequest", "HealthCheckResponse"),
    "explain": ("ExplainRequest", "ExplainResponse"),
    "status": ("StatusRequest", "StatusResponse"),
    "getCataloges": ("GetCatalogesRequest", "GetCatalogesResponse"),
    "getSchemaNamesV2": ("GetSchemaNamesV2Request", "GetSchemaNamesResponse"),
    "getTablesV2": ("GetTablesV2Request", "GetTablesResponse"),
    "getColumnsV2": ("GetColumnsV2Request", "GetColumnsResponse"),
    "dryRun": ("DryRunRequest", "DryRunResponse"),
    "dryRunV2": ("DryRunRequestV2", "DryRunResponse"),
}


def _check_message(module, name, fields):
    descriptor = module.DESCRIPTOR.message_types_by_name[name]
    actual = {f.name: (f.number, f.type) for f in descriptor.fields}
    assert actual == fields, name
    for field in descriptor.fields:
        assert field.is_repeated == ((name, field.name) in REPEATED), (name, field.name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_engine_message_fields_match_spec(name):
    _check_message(e6x_engine_pb2, name, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED_CLUSTER))
def test_cluster_message_fields_match_spec(name):
    _check_message(cluster_pb2, name, EXPECTED_CLUSTER[name])


def test_optional_fields_have_explicit_presence():
    for name in ("AuthenticateResponse", "PrepareStatementResponse", "StatusResponse", "GetTablesResponse"):
        descriptor = e6x_engine_pb2.DESCRIPTOR.message_types_by_name[name]
        assert descriptor.fields_by_name["new_strategy"].has_presence, name


class _RecordingChannel:
    """Collects the method paths a generated stub would call."""

    def __init__(self):
        self.paths = []

    def unary_unary(self, path, *args, **kwargs):
        self.paths.append(path)
        return None


class _RecordingServer:
    def __init__(self):
        self.services = []

    def add_generic_rpc_handlers(self, handlers):
        self.services.extend(h.service_name() for h in handlers)

    def add_registered_method_handlers(self, service, handlers):
        self.services.append(service)


def test_messages_have_a_package_but_method_paths_are_bare():
    # The package keeps our symbols apart from the official client's; the wire paths are the spec's.
    assert e6x_engine_pb2.DESCRIPTOR.package == cluster_pb2.DESCRIPTOR.package == "e6driver.wire"
    channel = _RecordingChannel()
    e6x_engine_pb2_grpc.QueryEngineServiceStub(channel)
    cluster_pb2_grpc.ClusterServiceStub(channel)
    assert "/QueryEngineService/prepareStatementV2" in channel.paths and "/ClusterService/resume" in channel.paths
    assert all(path.count("/") == 2 and "." not in path for path in channel.paths)
    server = _RecordingServer()
    e6x_engine_pb2_grpc.add_QueryEngineServiceServicer_to_server(e6x_engine_pb2_grpc.QueryEngineServiceServicer(),
                                                                 server)
    cluster_pb2_grpc.add_ClusterServiceServicer_to_server(cluster_pb2_grpc.ClusterServiceServicer(), server)
    assert set(server.services) == {"QueryEngineService", "ClusterService"}


@pytest.mark.parametrize("method", sorted(USED_RPCS))
def test_used_rpcs_have_spec_signatures(method):
    service = e6x_engine_pb2.DESCRIPTOR.services_by_name["QueryEngineService"]
    rpc = service.methods_by_name[method]
    assert (rpc.input_type.name, rpc.output_type.name) == USED_RPCS[method]
    assert not rpc.client_streaming and not rpc.server_streaming


def test_cluster_rpcs():
    service = cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"]
    assert {m.name: (m.input_type.name, m.output_type.name) for m in service.methods} == {
        "status": ("ClusterStatusRequest", "ClusterStatusResponse"),
        "resume": ("ResumeRequest", "ResumeResponse"),
        "suspend": ("SuspendRequest", "SuspendResponse"),
    }
