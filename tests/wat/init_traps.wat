;; init() hits `unreachable`.
(module
  (func (export "init") (result i32) (unreachable))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32) (local.get $x)))
