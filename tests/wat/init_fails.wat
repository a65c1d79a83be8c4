;; init() reports ABI_ERROR_INTERNAL (-4): the plugin cannot get ready.
(module
  (func (export "init") (result i32) (i32.const -4))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32) (local.get $x)))
