;; Conversions between the four number types, for the CLI parity tests (tests/parity).
(module
  (func (export "i32_wrap_i64") (param i64) (result i32) local.get 0 i32.wrap_i64)
  (func (export "i64_extend_i32_s") (param i32) (result i64) local.get 0 i64.extend_i32_s)
  (func (export "i64_extend_i32_u") (param i32) (result i64) local.get 0 i64.extend_i32_u)

  (func (export "f32_convert_i32_s") (param i32) (result f32) local.get 0 f32.convert_i32_s)
  (func (export "f32_convert_i32_u") (param i32) (result f32) local.get 0 f32.convert_i32_u)
  (func (export "f32_convert_i64_s") (param i64) (result f32) local.get 0 f32.convert_i64_s)
  (func (export "f32_convert_i64_u") (param i64) (result f32) local.get 0 f32.convert_i64_u)
  (func (export "f64_convert_i32_s") (param i32) (result f64) local.get 0 f64.convert_i32_s)
  (func (export "f64_convert_i32_u") (param i32) (result f64) local.get 0 f64.convert_i32_u)
  (func (export "f64_convert_i64_s") (param i64) (result f64) local.get 0 f64.convert_i64_s)
  (func (export "f64_convert_i64_u") (param i64) (result f64) local.get 0 f64.convert_i64_u)

  (func (export "f64_promote_f32") (param f32) (result f64) local.get 0 f64.promote_f32)
  (func (export "f32_demote_f64") (param f64) (result f32) local.get 0 f32.demote_f64)

  ;; Trapping truncations: NaN -> "invalid conversion to integer", out of range -> "integer overflow".
  (func (export "i32_trunc_f32_s") (param f32) (result i32) local.get 0 i32.trunc_f32_s)
  (func (export "i32_trunc_f32_u") (param f32) (result i32) local.get 0 i32.trunc_f32_u)
  (func (export "i32_trunc_f64_s") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func (export "i32_trunc_f64_u") (param f64) (result i32) local.get 0 i32.trunc_f64_u)
  (func (export "i64_trunc_f32_s") (param f32) (result i64) local.get 0 i64.trunc_f32_s)
  (func (export "i64_trunc_f64_s") (param f64) (result i64) local.get 0 i64.trunc_f64_s)
  (func (export "i64_trunc_f64_u") (param f64) (result i64) local.get 0 i64.trunc_f64_u)

  ;; Saturating truncations never trap.
  (func (export "i32_trunc_sat_f32_s") (param f32) (result i32) local.get 0 i32.trunc_sat_f32_s)
  (func (export "i32_trunc_sat_f32_u") (param f32) (result i32) local.get 0 i32.trunc_sat_f32_u)
  (func (export "i32_trunc_sat_f64_s") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_s)
  (func (export "i64_trunc_sat_f64_s") (param f64) (result i64) local.get 0 i64.trunc_sat_f64_s)
  (func (export "i64_trunc_sat_f64_u") (param f64) (result i64) local.get 0 i64.trunc_sat_f64_u)

  ;; Bit patterns: these reach every float (subnormals, NaN payloads) without parsing a decimal.
  (func (export "f32_reinterpret_i32") (param i32) (result f32) local.get 0 f32.reinterpret_i32)
  (func (export "i32_reinterpret_f32") (param f32) (result i32) local.get 0 i32.reinterpret_f32)
  (func (export "f64_reinterpret_i64") (param i64) (result f64) local.get 0 f64.reinterpret_i64)
  (func (export "i64_reinterpret_f64") (param f64) (result i64) local.get 0 i64.reinterpret_f64)
)
