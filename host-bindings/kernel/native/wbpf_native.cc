// The only native code of wbpf: raw system calls and memory mappings for the kernel backend.
// Everything else (attr layouts, protocols, bookkeeping) lives in TypeScript. No function
// throws: failures come back as -errno so the TS side can name what failed.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

// One live mapping. The ArrayBuffer's finalizer and an explicit munmap may both reach it, so
// whichever comes first unmaps and the other only frees the record.
struct Mapping {
  void* addr;
  size_t length;
  bool unmapped;
};

std::mutex mappingsLock;
std::unordered_map<void*, Mapping*> mappings;

Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

bool BytesOf(const Napi::Value& v, uint8_t** data, size_t* length) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    *data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
    *length = ta.ByteLength();
    return true;
  }
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    *data = static_cast<uint8_t*>(ab.Data());
    *length = ab.ByteLength();
    return true;
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    *data = static_cast<uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    *length = dv.ByteLength();
    return true;
  }
  return false;
}

bool IntArg(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  *out = info[i].As<Napi::Number>().Int64Value();
  return true;
}

// bpf(cmd, attr): the attr buffer's whole length is passed as the size.
Napi::Value Bpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t cmd;
  uint8_t* attr;
  size_t size;
  if (!IntArg(info, 0, &cmd) || info.Length() < 2 || !BytesOf(info[1], &attr, &size)) return Errno(env, EINVAL);
  long r = syscall(__NR_bpf, static_cast<int>(cmd), attr, static_cast<unsigned>(size));
  return Napi::Number::New(env, r < 0 ? -errno : static_cast<double>(r));
}

// Address of a buffer's bytes. Asking for the ArrayBuffer moves an on-heap typed array's data
// off the V8 heap for good, so the address stays valid while the buffer is referenced.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t length;
  if (info.Length() < 1 || !BytesOf(info[0], &data, &length)) return Errno(info.Env(), EINVAL);
  return Napi::Number::New(info.Env(), static_cast<double>(reinterpret_cast<uintptr_t>(data)));
}

Napi::Value PerfEventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* attr;
  size_t size;
  int64_t pid, cpu, group, flags;
  if (info.Length() < 5 || !BytesOf(info[0], &attr, &size) || size < 64 || !IntArg(info, 1, &pid) ||
      !IntArg(info, 2, &cpu) || !IntArg(info, 3, &group) || !IntArg(info, 4, &flags))
    return Errno(env, EINVAL);
  long r = syscall(__NR_perf_event_open, attr, static_cast<int>(pid), static_cast<int>(cpu),
                   static_cast<int>(group), static_cast<unsigned long>(flags));
  return Napi::Number::New(env, r < 0 ? -errno : static_cast<double>(r));
}

Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, request, arg;
  if (!IntArg(info, 0, &fd) || !IntArg(info, 1, &request) || !IntArg(info, 2, &arg)) return Errno(env, EINVAL);
  int r = ioctl(static_cast<int>(fd), static_cast<unsigned long>(request), static_cast<unsigned long>(arg));
  return Napi::Number::New(env, r < 0 ? -errno : r);
}

void FinalizeMapping(napi_env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    if (!m->unmapped) {
      munmap(m->addr, m->length);
      mappings.erase(m->addr);
    }
  }
  delete m;
}

// mmap(fd, length, prot, flags, offset) → ArrayBuffer over the mapping, or -errno.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, length, prot, flags, offset;
  if (!IntArg(info, 0, &fd) || !IntArg(info, 1, &length) || !IntArg(info, 2, &prot) || !IntArg(info, 3, &flags) ||
      !IntArg(info, 4, &offset) || length <= 0)
    return Errno(env, EINVAL);
  void* addr = mmap(nullptr, static_cast<size_t>(length), static_cast<int>(prot), static_cast<int>(flags),
                    static_cast<int>(fd), static_cast<off_t>(offset));
  if (addr == MAP_FAILED) return Errno(env, errno);
  Mapping* m = new Mapping{addr, static_cast<size_t>(length), false};
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    mappings[addr] = m;
  }
  napi_value result;
  napi_status status =
      napi_create_external_arraybuffer(env, addr, static_cast<size_t>(length), FinalizeMapping, m, &result);
  if (status != napi_ok) {
    {
      std::lock_guard<std::mutex> guard(mappingsLock);
      mappings.erase(addr);
    }
    munmap(addr, static_cast<size_t>(length));
    delete m;
    return Errno(env, ENOTSUP);
  }
  return Napi::Value(env, result);
}

// munmap(arrayBuffer): unmaps now and detaches the buffer, so stale views read as empty
// instead of faulting.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) return Errno(env, EINVAL);
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  void* addr = ab.Data();
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    auto it = mappings.find(addr);
    if (it == mappings.end() || it->second->unmapped) return Errno(env, EINVAL);
    munmap(addr, it->second->length);
    it->second->unmapped = true;
    mappings.erase(it);
  }
  napi_detach_arraybuffer(env, ab);
  return Napi::Number::New(env, 0);
}

Napi::Value EpollCreate(const Napi::CallbackInfo& info) {
  int r = epoll_create1(EPOLL_CLOEXEC);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// epollCtl(epfd, op, fd, events, data): `data` is a u32 the caller gets back from epollWait.
Napi::Value EpollCtl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t epfd, op, fd, events, data;
  if (!IntArg(info, 0, &epfd) || !IntArg(info, 1, &op) || !IntArg(info, 2, &fd) || !IntArg(info, 3, &events) ||
      !IntArg(info, 4, &data))
    return Errno(env, EINVAL);
  epoll_event ev{};
  ev.events = static_cast<uint32_t>(events);
  ev.data.u64 = static_cast<uint32_t>(data);
  int r = epoll_ctl(static_cast<int>(epfd), static_cast<int>(op), static_cast<int>(fd), &ev);
  return Napi::Number::New(env, r < 0 ? -errno : r);
}

// epollWait(epfd, out: Uint32Array, timeoutMs) → number of ready fds, their data words written
// to `out` (at most out.length), or -errno. Filling a caller-owned array keeps polls allocation-free.
Napi::Value EpollWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t epfd, timeout;
  if (!IntArg(info, 0, &epfd) || info.Length() < 2 || !info[1].IsTypedArray() || !IntArg(info, 2, &timeout))
    return Errno(env, EINVAL);
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint32_array || ta.ElementLength() == 0) return Errno(env, EINVAL);
  Napi::Uint32Array out = ta.As<Napi::Uint32Array>();
  constexpr size_t kMax = 64;
  epoll_event events[kMax];
  size_t max = out.ElementLength() < kMax ? out.ElementLength() : kMax;
  int n = epoll_wait(static_cast<int>(epfd), events, static_cast<int>(max), static_cast<int>(timeout));
  if (n < 0) return Errno(env, errno);
  for (int i = 0; i < n; i++) out[i] = static_cast<uint32_t>(events[i].data.u64);
  return Napi::Number::New(env, n);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!IntArg(info, 0, &fd)) return Errno(info.Env(), EINVAL);
  int r = close(static_cast<int>(fd));
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return Errno(env, EINVAL);
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IF_NAMESIZE) return Errno(env, ENODEV);
  errno = 0;
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return Errno(env, errno ? errno : ENODEV);
  return Napi::Number::New(env, idx);
}

Napi::Value StrError(const Napi::CallbackInfo& info) {
  int64_t err;
  if (!IntArg(info, 0, &err)) return Napi::String::New(info.Env(), "unknown error");
  return Napi::String::New(info.Env(), strerror(static_cast<int>(err < 0 ? -err : err)));
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("bpf", Napi::Function::New(env, Bpf, "bpf"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("perfEventOpen", Napi::Function::New(env, PerfEventOpen, "perfEventOpen"));
  exports.Set("ioctl", Napi::Function::New(env, Ioctl, "ioctl"));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("epollCreate", Napi::Function::New(env, EpollCreate, "epollCreate"));
  exports.Set("epollCtl", Napi::Function::New(env, EpollCtl, "epollCtl"));
  exports.Set("epollWait", Napi::Function::New(env, EpollWait, "epollWait"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex, "ifNameToIndex"));
  exports.Set("strerror", Napi::Function::New(env, StrError, "strerror"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  return exports;
}

}  // namespace

NODE_API_MODULE(wbpf_native, Init)
