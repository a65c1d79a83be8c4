;; ABI v2 plugin that refuses every input with code -3 and a message.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "input refused by policy")
  (func (export "get_abi_version") (result i32) (i32.const 20000))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "dealloc") (param i32 i32))
  (func (export "get_error_message") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 23)))
  (func (export "process_bytes") (param i32 i32) (result i64) (i64.const -3)))
