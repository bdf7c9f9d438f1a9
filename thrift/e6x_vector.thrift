// Result chunk layout (spec §7). Serialized with TBinaryProtocol, no envelope.
// e6driver reads and writes these bytes directly (e6driver/_decode.py, ext/_cdecode.pyx,
// mock_server/encode.py); this file is the contract they follow.
namespace java io.e6x.query.engine.vectors
namespace py e6x_vector

enum VectorType {
  BINARY = 0,
  BOOLEAN = 1,
  DOUBLE = 2,
  FLOAT = 3,
  INT96 = 4,
  INTEGER = 5,
  LONG = 6,
  STRING = 7,
  DATE = 8,
  DATETIME = 9,
  TIMESTAMP = 10,
  STRUCT = 11,
  MAP = 12,
  ARRAY = 13,
  NULL = 14,
  TIMESTAMP_TZ = 15,
  DECIMAL128 = 16,
  INTERVAL_DAY_SECOND = 17,
}

struct BoolData { 1: list<bool> data }
struct Int32Data { 1: list<i32> data }
struct Int64Data { 1: list<i64> data }
struct DateData { 1: list<i64> data }            // microseconds since epoch, midnight UTC
struct Float32Data { 1: list<double> data }      // doubles on the wire, despite the name
struct Float64Data { 1: list<double> data }
struct VarcharData { 1: list<string> data }      // also raw bytes (BINARY) and JSON text (nested)
struct BoolConstantData { 1: bool data }
struct DateConstantData { 1: i64 data }
struct NullConstantData { 1: byte data }
struct NumericConstantData { 1: i64 data }
struct NumericDecimalConstantData { 1: double data }
struct TemporalIntervalConstantData { 1: byte data }
struct TimeConstantData { 1: i64 data, 2: optional string zoneData }
struct VarcharConstantData { 1: string data }
struct TimeData { 1: list<i64> data, 2: optional list<string> zoneData }
struct Decimal128Data { 1: list<binary> data, 2: i32 scale }   // 16-byte big-endian unscaled
struct NumericDecimal128ConstantData { 1: binary data, 2: i32 scale }

union Data {
  1: BoolData boolData,
  2: Int32Data int32Data,
  3: Int64Data int64Data,
  4: DateData dateData,
  5: Float32Data float32Data,
  6: Float64Data float64Data,
  7: VarcharData varcharData,
  8: BoolConstantData boolConstantData,
  9: DateConstantData dateConstantData,
  10: NullConstantData nullConstantData,
  11: NumericConstantData numericConstantData,
  12: NumericDecimalConstantData numericDecimalConstantData,
  13: TemporalIntervalConstantData temporalIntervalConstantData,
  14: TimeConstantData timeConstantData,
  15: VarcharConstantData varcharConstantData,
  16: TimeData timeData,
  17: Decimal128Data decimal128Data,
  18: NumericDecimal128ConstantData numericDecimal128ConstantData,
}

struct Vector {
  1: i32 size,
  2: VectorType vectorType,
  3: list<bool> nullSet,
  4: Data data,
  5: optional bool isConstantVector,
  6: optional string zoneOffset,
  7: optional string format,
}

struct Chunk {
  1: i32 size,
  2: list<Vector> vectors,
}
