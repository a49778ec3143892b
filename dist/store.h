// TCPStore: the key-value store the ranks of one run meet at (rendezvous). Rank 0 hosts the
// server (a poll() thread) at MASTER_ADDR:MASTER_PORT; every rank, rank 0 included, talks to it
// through a client connection. It carries the NCCL unique id, Gloo's addresses and the DDP
// signatures.
//
// Wire format (little-endian): every message is a frame [u32 payload length][payload]; a request
// payload is [u8 command][u32 argument count][u32 length, bytes]... and a reply payload is
// [u8 status][bytes]: ok, not found, refused (a protocol violation; the server closes the connection)
// or failed (a well-formed request the store cannot carry out, e.g. ADD on a non-integer: the bytes
// say why and the connection stays usable). The first request of a connection is HELLO(magic, run
// id): a client of another run (a stale process, a second run on a reused port) is refused. Frames above
// kMaxMessageBytes, malformed or truncated requests and connections that stall mid-frame are
// dropped by the server without disturbing the other clients.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ember::dist {

using Bytes = std::vector<uint8_t>;

inline constexpr size_t kMaxStoreMessageBytes = 64u << 20;  // 64 MiB per frame

// The server half, hosted by rank 0. Runs until destroyed.
class TCPStoreServer {
 public:
  // port 0 picks a free port (see port()). Listens on all interfaces.
  TCPStoreServer(uint16_t port, std::string run_id,
                 std::chrono::milliseconds stall_timeout = std::chrono::seconds(30));
  ~TCPStoreServer();
  TCPStoreServer(const TCPStoreServer&) = delete;
  TCPStoreServer& operator=(const TCPStoreServer&) = delete;

  uint16_t port() const { return port_; }
  // Connections dropped for protocol violations so far (for tests).
  int64_t refused_connections() const;

  struct State;

 private:
  void serve();
  uint16_t port_ = 0;
  std::unique_ptr<State> state_;
};

// A client connection. Thread safe (one request at a time). Keys are namespaced by the run id.
class TCPStore {
 public:
  // Connects (retrying until `timeout`: rank 0 may still be starting its server).
  TCPStore(const std::string& host, uint16_t port, std::string run_id,
           std::chrono::milliseconds timeout = std::chrono::seconds(300));
  ~TCPStore();
  TCPStore(const TCPStore&) = delete;
  TCPStore& operator=(const TCPStore&) = delete;

  void set(const std::string& key, const Bytes& value);
  void set(const std::string& key, const std::string& value) { set(key, Bytes(value.begin(), value.end())); }
  // Waits (up to the store timeout) for the key, then returns its value.
  Bytes get(const std::string& key);
  std::string get_string(const std::string& key);
  // Adds delta to the integer at key (0 when absent) and returns the new value. A key that holds
  // anything but a whole decimal int64, or a sum past the int64 range, throws ember::Error naming the
  // key and leaves the value as it was (the client stays usable).
  int64_t add(const std::string& key, int64_t delta);
  // True when every key exists (does not wait).
  bool check(const std::vector<std::string>& keys);
  // Waits until every key exists; throws ember::Error naming the missing keys after `timeout`.
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  void wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }

 private:
  void connect_with_retry(std::chrono::milliseconds timeout);
  Bytes request(uint8_t command, const std::vector<Bytes>& args, std::chrono::milliseconds timeout);

  std::string host_;
  uint16_t port_;
  std::string run_id_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::mutex mutex_;
};

// Keys under a prefix ("gloo/0/"), sharing one client.
class PrefixStore {
 public:
  PrefixStore(std::shared_ptr<TCPStore> store, std::string prefix)
      : store_(std::move(store)), prefix_(std::move(prefix)) {}
  void set(const std::string& key, const Bytes& value) { store_->set(prefix_ + key, value); }
  Bytes get(const std::string& key) { return store_->get(prefix_ + key); }
  int64_t add(const std::string& key, int64_t delta) { return store_->add(prefix_ + key, delta); }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);
  TCPStore& base() { return *store_; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::shared_ptr<TCPStore> store_;
  std::string prefix_;
};

namespace detail {
// Socket helpers shared with the tests (which speak raw bytes to the server).
// Connects to host:port once; returns -1 on failure, with *why (when given) saying what failed.
int connect_tcp(const std::string& host, uint16_t port, std::string* why = nullptr);
// Full-loop writes and reads that handle EINTR and partial transfers; the read fails (false) on
// EOF, error or when the deadline passes.
bool write_all(int fd, const void* data, size_t size);
bool read_all(int fd, void* data, size_t size, std::chrono::steady_clock::time_point deadline);
}  // namespace detail

}  // namespace ember::dist
