;; ABI v1.0.0 plugin with state: init sets a flag, process(x) counts its calls in a global and
;; returns x * 1000 + count. In a fresh instance per request the count is always 1.
(module
  (global $initialized (mut i32) (i32.const 0))
  (global $calls (mut i32) (i32.const 0))
  (func (export "get_abi_version") (result i32) (i32.const 10000))
  (func (export "init") (result i32)
    (if (global.get $initialized) (then (return (i32.const -2))))
    (global.set $initialized (i32.const 1))
    (i32.const 0))
  (func (export "cleanup") (result i32)
    (global.set $initialized (i32.const 0))
    (i32.const 0))
  (func (export "process") (param $x i32) (result i32)
    (if (i32.eqz (global.get $initialized)) (then (return (i32.const -1))))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.add (i32.mul (local.get $x) (i32.const 1000)) (global.get $calls))))
