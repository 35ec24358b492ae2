#!/bin/sh
# Rebuilds bench/vm-programs.bpf.o (clang 14, libbpf-dev headers), as vm.md §4.1 built its workloads.
set -eu
cd "$(dirname "$0")"
clang -O2 -g -target bpfel -mcpu=v3 -I/usr/include/$(uname -m)-linux-gnu -c vm-programs.bpf.c -o vm-programs.bpf.o
