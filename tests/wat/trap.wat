;; process(x) reads far outside its one page of memory: WasmEdge traps with
;; "out of bounds memory access".
(module
  (memory 1)
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param $x i32) (result i32)
    (i32.load (i32.const 0x7ffffff0))))
