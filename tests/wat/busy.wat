;; process(n): spin n iterations of a pure loop, then return a value derived from n.
;; Used to keep a worker thread inside one native call for a while (overlap, queue, timeout).
(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $acc (i32.xor (i32.add (local.get $acc) (local.get $i)) (i32.const 0x5bd1e995)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    ;; always non-negative, so a long run never looks like an error code
    (i32.and (local.get $acc) (i32.const 0x7fffffff))))
