// The Gloo backend: collectives over TCP between processes, on host memory. CUDA tensors are
// staged through pinned host buffers (device -> host on the caller's stream, reduce on the host,
// host -> device in wait()), which is what lets several ranks share one GPU in tests.
// Collectives run in issue order on one worker thread per group, so all_reduce_async returns at
// once and DDP overlaps the reduction of a bucket with the rest of backward.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/dist/process_group.h>

namespace ember::dist {
namespace {

// Gloo's rendezvous talks to our TCPStore under a prefix of its own.
class GlooStoreAdapter : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(std::shared_ptr<TCPStore> store, std::string prefix, std::chrono::milliseconds timeout)
      : store_(std::move(store), std::move(prefix)), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    store_.set(key, Bytes(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    store_.wait({key}, timeout_);
    Bytes b = store_.get(key);
    return std::vector<char>(b.begin(), b.end());
  }
  void wait(const std::vector<std::string>& keys) override { store_.wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    store_.wait(keys, timeout);
  }

 private:
  PrefixStore store_;
  std::chrono::milliseconds timeout_;
};

// The address peers reach this process at: the local end of a route to MASTER_ADDR (a UDP
// "connect" sends nothing), unless EMBER_GLOO_HOSTNAME says otherwise.
std::string local_address_towards(const std::string& master_addr) {
  if (const char* h = std::getenv("EMBER_GLOO_HOSTNAME")) return h;
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::string result = "127.0.0.1";
  if (::getaddrinfo(master_addr.c_str(), "9", &hints, &res) == 0 && res != nullptr) {
    int fd = ::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      sockaddr_storage local{};
      socklen_t len = sizeof(local);
      char text[INET6_ADDRSTRLEN] = {0};
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
        const void* addr = local.ss_family == AF_INET6
                               ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                               : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
        if (::inet_ntop(local.ss_family, addr, text, sizeof(text)) != nullptr) result = text;
      }
    }
    if (fd >= 0) ::close(fd);
    ::freeaddrinfo(res);
  }
  return result;
}

// A pinned host copy of a CUDA tensor (plain host memory when CUDA is absent, which never
// happens for a CUDA tensor).
Tensor pinned_host_like(const Tensor& t) {
  auto storage = std::make_shared<Storage>(cuda::detail::allocate_pinned(t.nbytes()), t.nbytes());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = t.sizes();
  impl->strides = contiguous_strides(t.sizes());
  impl->dtype = t.dtype();
  return Tensor(impl);
}

class GlooWork : public Work {
 public:
  // finish runs on the waiting thread once the host part is done (the copy back to the GPU).
  explicit GlooWork(std::function<void()> finish = nullptr) : finish_(std::move(finish)) {}
  void complete(std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
    error_ = error;
    cv_.notify_all();
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
    if (finish_) {
      auto f = std::move(finish_);
      finish_ = nullptr;
      lock.unlock();
      f();
    }
  }
  bool is_completed() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::function<void()> finish_;
};

class ProcessGroupGloo : public ProcessGroup {
 public:
  ProcessGroupGloo(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous, std::chrono::milliseconds timeout)
      : ProcessGroup(env.rank, env.world_size, std::move(rendezvous), timeout) {
    gloo::transport::tcp::attr attr;
    attr.hostname = local_address_towards(env.master_addr);
    if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME")) {
      attr.iface = iface;
      attr.hostname.clear();
    }
    try {
      device_ = gloo::transport::tcp::CreateDevice(attr);
      context_ = std::make_shared<gloo::rendezvous::Context>(rank_, size_);
      context_->setTimeout(timeout);
      GlooStoreAdapter adapter(store(), "gloo/", timeout);
      context_->connectFullMesh(adapter, device_);
    } catch (const std::exception& e) {
      EMBER_FAIL("gloo: connecting rank ", rank_, " of ", size_, " (", attr.hostname, ") failed: ", e.what());
    }
    worker_ = std::thread([this] { run_queue(); });
  }

  ~ProcessGroupGloo() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
  }

  std::string backend() const override { return "gloo"; }

  std::shared_ptr<Work> all_reduce_async(const Tensor& tensor, ReduceOp op) override {
    check_collective("all_reduce", tensor, op);
    Tensor host = stage_to_host(tensor);
    auto work = std::make_shared<GlooWork>(copy_back(tensor, host));
    uint32_t tag = next_tag_++;
    int size = size_;
    auto context = context_;
    enqueue(work, [host, op, tag, size, context] {
      dispatch_all(host.dtype(), "gloo all_reduce", [&](auto tag_value) {
        using T = decltype(tag_value);
        gloo::AllreduceOptions opts(context);
        opts.setOutput<T>(host.data<T>(), static_cast<size_t>(host.numel()));
        opts.setReduceFunction(
            static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
        opts.setTag(tag);
        gloo::allreduce(opts);
        if (op == ReduceOp::Avg) {
          T* p = host.data<T>();
          for (int64_t i = 0; i < host.numel(); ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(size));
        }
      });
    });
    return work;
  }

  void broadcast(const Tensor& tensor, int root) override {
    check_collective("broadcast", tensor);
    EMBER_CHECK(root >= 0 && root < size_, "gloo broadcast: root ", root, " outside a group of ", size_);
    Tensor host = stage_to_host(tensor);
    auto work = std::make_shared<GlooWork>(copy_back(tensor, host));
    uint32_t tag = next_tag_++;
    auto context = context_;
    enqueue(work, [host, root, tag, context] {
      dispatch_all(host.dtype(), "gloo broadcast", [&](auto tag_value) {
        using T = decltype(tag_value);
        gloo::BroadcastOptions opts(context);
        opts.setOutput<T>(host.data<T>(), static_cast<size_t>(host.numel()));
        opts.setRoot(root);
        opts.setTag(tag);
        gloo::broadcast(opts);
      });
    });
    work->wait();
  }

  Tensor all_gather(const Tensor& tensor) override {
    check_collective("all_gather", tensor);
    Tensor input = stage_to_host(tensor);
    Shape out_shape = tensor.sizes();
    out_shape.insert(out_shape.begin(), size_);
    Tensor output = empty(out_shape, TensorOptions(tensor.dtype()));
    auto work = std::make_shared<GlooWork>();
    uint32_t tag = next_tag_++;
    auto context = context_;
    enqueue(work, [input, output, tag, context] {
      // Gloo divides by the input size (SIGFPE at 0); an empty gather moves nothing. Still queued, so
      // it waits for earlier collectives and reports a broken group like any other.
      if (input.numel() == 0) return;
      dispatch_all(input.dtype(), "gloo all_gather", [&](auto tag_value) {
        using T = decltype(tag_value);
        gloo::AllgatherOptions opts(context);
        opts.setInput<T>(input.data<T>(), static_cast<size_t>(input.numel()));
        opts.setOutput<T>(output.data<T>(), static_cast<size_t>(output.numel()));
        opts.setTag(tag);
        gloo::allgather(opts);
      });
    });
    work->wait();
    return tensor.is_cuda() ? output.to(tensor.device()) : output;
  }

  void barrier() override {
    auto work = std::make_shared<GlooWork>();
    uint32_t tag = next_tag_++;
    auto context = context_;
    enqueue(work, [tag, context] {
      gloo::BarrierOptions opts(context);
      opts.setTag(tag);
      gloo::barrier(opts);
    });
    work->wait();
  }

 private:
  // CPU tensors are reduced where they are; CUDA tensors are copied into pinned host memory on the
  // caller's current stream (synchronously, so the host sees finished values).
  static Tensor stage_to_host(const Tensor& tensor) {
    if (!tensor.is_cuda()) return tensor;
    Tensor host = pinned_host_like(tensor);
    host.copy_(tensor);
    return host;
  }
  static std::function<void()> copy_back(const Tensor& tensor, const Tensor& host) {
    if (!tensor.is_cuda()) return nullptr;
    Tensor device = tensor;
    return [device, host]() mutable { device.copy_(host); };
  }

  void enqueue(const std::shared_ptr<GlooWork>& work, std::function<void()> body) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(work, std::move(body));
    cv_.notify_all();
  }

  void run_queue() {
    for (;;) {
      std::pair<std::shared_ptr<GlooWork>, std::function<void()>> item;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      if (broken_) {
        error = broken_;
      } else {
        try {
          item.second();
        } catch (const std::exception& e) {
          // A failed collective leaves the group unusable: later ones fail with the same cause.
          error = std::make_exception_ptr(Error(::ember::detail::make_message(
              "gloo: collective failed on rank ", rank_, " of ", size_,
              " (a peer died, the network failed or it timed out after ", timeout_.count() / 1000.0, " s): ",
              e.what())));
          broken_ = error;
        }
      }
      item.first->complete(error);
    }
  }

  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::rendezvous::Context> context_;
  uint32_t next_tag_ = 1;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_ptr<GlooWork>, std::function<void()>>> queue_;
  bool stopping_ = false;
  std::exception_ptr broken_;
  std::thread worker_;
};

}  // namespace

namespace detail {
std::shared_ptr<ProcessGroup> make_gloo_process_group(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous,
                                                      std::chrono::milliseconds timeout) {
  return std::make_shared<ProcessGroupGloo>(env, std::move(rendezvous), timeout);
}
}  // namespace detail

}  // namespace ember::dist
