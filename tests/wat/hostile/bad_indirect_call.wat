(module (table 1 funcref) (func (export "process") (param i32) (result i32)
  (call_indirect (param i32) (result i32) (local.get 0) (i32.const 0))))
