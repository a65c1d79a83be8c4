;; The start function never returns: instantiation itself runs past the deadline.
(module
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "process") (param $x i32) (result i32) (local.get $x)))
