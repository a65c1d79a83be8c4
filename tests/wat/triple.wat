;; process(x) = 3x: used as the "new version" of hello in hot-reload tests.
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 3))))
