;; process(x) = x + 2 works; cleanup() hits `unreachable`.
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (unreachable))
  (func (export "process") (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 2))))
