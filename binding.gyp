{
  "targets": [
    {
      "target_name": "wbpf_native",
      "sources": ["host-bindings/kernel/native/wbpf_native.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall"],
      "conditions": [["OS!='linux'", {"sources!": ["host-bindings/kernel/native/wbpf_native.cc"]}]]
    }
  ]
}
