;; Traps for the CLI parity tests (tests/parity): each function fails with one WasmEdge error.
(module
  (type $unary (func (param i32) (result i32)))
  (type $nullary (func (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $double $seven)  ;; slots 2 and 3 stay null
  (func $double (type $unary) local.get 0 i32.const 2 i32.mul)
  (func $seven (type $nullary) i32.const 7)

  (func (export "unreachable") unreachable)
  (func (export "unreachable_i32") (param i32) (result i32)
    local.get 0 i32.eqz if unreachable end local.get 0)
  (func (export "div0_i32") (param i32) (result i32) local.get 0 i32.const 0 i32.div_s)
  (func (export "div0_u64") (param i64) (result i64) local.get 0 i64.const 0 i64.div_u)
  (func (export "rem0_i32") (param i32) (result i32) local.get 0 i32.const 0 i32.rem_u)
  (func (export "overflow_i32") (result i32) i32.const 0x80000000 i32.const -1 i32.div_s)
  (func (export "overflow_i64") (result i64) i64.const 0x8000000000000000 i64.const -1 i64.div_s)
  (func (export "call_unary") (param $slot i32) (param $x i32) (result i32)
    local.get $x local.get $slot call_indirect (type $unary))
  (func (export "call_nullary") (param $slot i32) (result i32)
    local.get $slot call_indirect (type $nullary))
  ;; A trap deep inside nested calls still reports the innermost instruction's error.
  (func $inner (param i32) (result i32) i32.const 100 local.get 0 i32.div_u)
  (func $middle (param i32) (result i32) local.get 0 call $inner i32.const 1 i32.add)
  (func (export "nested") (param i32) (result i32) local.get 0 call $middle)
)
