;; The API fuzzer's (bench/api_fuzz.py) module with a host import and a memory: process calls the
;; host once (and is a v1 plugin's process), spin_host calls it for ever (only a timeout or fuel stops it).
(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1 2)
  (func (export "process") (param i32) (result i32) (call $host (local.get 0)))
  (func (export "spin_host") (param i32) (loop $forever (drop (call $host (local.get 0))) (br $forever)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
)
