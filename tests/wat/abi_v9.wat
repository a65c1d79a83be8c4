;; Reports ABI version v9.0.0, which this host does not support.
(module
  (func (export "get_abi_version") (result i32) (i32.const 90000))
  (func (export "process") (param $x i32) (result i32) (local.get $x)))
