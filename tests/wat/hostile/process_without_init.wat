;; Has a lifecycle but its process ignores it: the host still refuses process before init.
(module (func (export "init") (result i32) (i32.const 0)) (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param i32) (result i32) (local.get 0)))
