;; process(x) = x + 1 works; cleanup() reports ABI_ERROR_INTERNAL (-4).
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const -4))
  (func (export "process") (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1))))
