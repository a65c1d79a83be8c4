;; A reactor's _initialize that never returns: instantiation runs past the deadline.
(module
  (func (export "_initialize") (loop $forever (br $forever)))
  (func (export "process") (param $x i32) (result i32) (local.get $x)))
