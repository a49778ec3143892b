#include <ember/dist/store.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <thread>

#include <ember/core/error.h>

namespace ember::dist {

namespace {

using Clock = std::chrono::steady_clock;

enum Command : uint8_t { kHello = 0, kSet = 1, kGet = 2, kAdd = 3, kCheck = 4, kWait = 5 };
// kRefused: a protocol violation, the server closes the connection after the reply. kFailed: a
// well-formed request the store cannot carry out (ADD on a non-integer); the body is the reason and
// the connection stays usable.
enum Status : uint8_t { kOk = 0, kNotFound = 1, kRefused = 2, kFailed = 3 };

constexpr char kMagic[] = "ember-store-v1";
constexpr size_t kMaxArgs = 4096;
// Keys per CHECK or WAIT request; a client splits longer lists (the server refuses over kMaxArgs).
constexpr size_t kKeysPerRequest = 1024;
constexpr size_t kMaxConnections = 4096;

void put_u32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
void put_i64(Bytes& out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(u >> (8 * i)));
}
int64_t get_i64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return static_cast<int64_t>(v);
}
Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// The arguments of one CHECK or WAIT request: keys [first, first + kKeysPerRequest).
std::vector<Bytes> key_args(const std::vector<std::string>& keys, size_t first) {
  std::vector<Bytes> args;
  for (size_t i = first; i < keys.size() && i < first + kKeysPerRequest; ++i) args.push_back(to_bytes(keys[i]));
  return args;
}
std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

Bytes frame(const Bytes& payload) {
  Bytes out;
  out.reserve(payload.size() + 4);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

// A parsed request; parse() refuses anything that does not add up exactly.
struct Request {
  uint8_t command = 0;
  std::vector<Bytes> args;
};

// The value an ADD starts from: a whole decimal int64 ("-12"), nothing before or after it; else
// why not.
std::string parse_int64(const Bytes& b, int64_t& value) {
  const char* first = reinterpret_cast<const char*>(b.data());
  const char* last = first + b.size();
  auto [end, ec] = std::from_chars(first, last, value);
  if (end != last || first == last || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return "not a whole integer";
  }
  return ec == std::errc() ? "" : "past the int64 range";
}

// A value for an error message: short printable text quoted, anything else by its size.
std::string preview(const Bytes& b) {
  constexpr size_t kShown = 32;
  const bool printable =
      b.size() <= kShown && std::all_of(b.begin(), b.end(), [](uint8_t ch) { return ch >= 32 && ch < 127; });
  return printable ? "'" + to_string(b) + "'" : "a value of " + std::to_string(b.size()) + " bytes";
}

bool parse_request(const uint8_t* p, size_t n, Request& req) {
  if (n < 5) return false;
  req.command = p[0];
  uint32_t count = get_u32(p + 1);
  if (count > kMaxArgs) return false;
  size_t pos = 5;
  req.args.clear();
  for (uint32_t i = 0; i < count; ++i) {
    if (n - pos < 4) return false;
    uint32_t len = get_u32(p + pos);
    pos += 4;
    if (len > n - pos) return false;
    req.args.emplace_back(p + pos, p + pos + len);
    pos += len;
  }
  return pos == n;
}

}  // namespace

// ---- sockets -------------------------------------------------------------------------------

namespace detail {

int connect_tcp(const std::string& host, uint16_t port, std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result); rc != 0) {
    if (why) *why = "cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int rc;
    do {
      rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) break;
    if (why) *why = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(result);
  if (fd >= 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 1000);
        continue;
      }
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, size_t size, Clock::time_point deadline) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    // Rounded up, so that a false return for lack of time means the deadline has passed.
    auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
    if (left_us <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>((left_us + 999) / 1000, 1000)));
    if (rc < 0 && errno != EINTR) return false;
    if (rc <= 0) continue;
    ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return false;
    }
    if (n == 0) return false;  // EOF
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace detail

// ---- server --------------------------------------------------------------------------------

struct TCPStoreServer::State {
  struct Connection {
    int fd = -1;
    Bytes in;
    Bytes out;
    bool greeted = false;
    bool close_after_flush = false;
    Clock::time_point opened;
    Clock::time_point frame_started;      // when the unfinished frame in `in` began
    std::vector<std::string> waiting_for;  // a pending WAIT
  };

  std::string run_id;
  std::chrono::milliseconds stall_timeout;
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};
  std::thread thread;
  std::map<std::string, Bytes> data;
  std::vector<Connection> connections;
  std::atomic<int64_t> refused{0};

  bool has_all(const std::vector<std::string>& keys) const {
    return std::all_of(keys.begin(), keys.end(), [&](const std::string& k) { return data.count(k) > 0; });
  }

  static void reply(Connection& c, Status status, const Bytes& body = {}) {
    Bytes payload;
    payload.reserve(body.size() + 1);
    payload.push_back(status);
    payload.insert(payload.end(), body.begin(), body.end());
    Bytes f = frame(payload);
    c.out.insert(c.out.end(), f.begin(), f.end());
  }

  void refuse(Connection& c, const std::string& why) {
    ++refused;
    reply(c, kRefused, to_bytes(why));
    c.in.clear();
    c.close_after_flush = true;
  }

  void wake_waiters() {
    for (Connection& c : connections) {
      if (!c.waiting_for.empty() && has_all(c.waiting_for)) {
        c.waiting_for.clear();
        reply(c, kOk);
      }
    }
  }

  // Handles one complete request (refusing the connection when it breaks the protocol).
  void handle(Connection& c, const Request& req) {
    if (!c.greeted) {
      if (req.command != kHello || req.args.size() != 2 || to_string(req.args[0]) != kMagic) {
        return refuse(c, "not an Ember store client");
      }
      if (to_string(req.args[1]) != run_id) {
        return refuse(c, "this store belongs to run '" + run_id + "', not '" + to_string(req.args[1]) + "'");
      }
      c.greeted = true;
      return reply(c, kOk);
    }
    switch (req.command) {
      case kSet: {
        if (req.args.size() != 2) return refuse(c, "SET takes a key and a value");
        data[to_string(req.args[0])] = req.args[1];
        reply(c, kOk);
        return wake_waiters();
      }
      case kGet: {
        if (req.args.size() != 1) return refuse(c, "GET takes one key");
        auto it = data.find(to_string(req.args[0]));
        if (it == data.end()) return reply(c, kNotFound);
        return reply(c, kOk, it->second);
      }
      case kAdd: {
        if (req.args.size() != 2 || req.args[1].size() != 8) return refuse(c, "ADD takes a key and an int64");
        const std::string key = to_string(req.args[0]);
        const int64_t delta = get_i64(req.args[1].data());
        auto it = data.find(key);
        int64_t base = 0, value = 0;
        // A bad value fails this request only (kFailed): the client's connection stays usable.
        if (it != data.end()) {
          const std::string bad = parse_int64(it->second, base);
          if (!bad.empty()) {
            const std::string why = "add on key '" + key + "': it holds " + preview(it->second) + ", " + bad;
            return reply(c, kFailed, to_bytes(why));
          }
        }
        if (__builtin_add_overflow(base, delta, &value)) {
          return reply(c, kFailed, to_bytes("add on key '" + key + "': " + std::to_string(base) + " + " +
                                            std::to_string(delta) + " overflows int64"));
        }
        data[key] = to_bytes(std::to_string(value));
        Bytes body;
        put_i64(body, value);
        reply(c, kOk, body);
        return wake_waiters();
      }
      case kCheck:
      case kWait: {
        std::vector<std::string> keys;
        for (const Bytes& k : req.args) keys.push_back(to_string(k));
        if (req.command == kCheck) return reply(c, kOk, Bytes{static_cast<uint8_t>(has_all(keys) ? 1 : 0)});
        if (has_all(keys)) return reply(c, kOk);
        c.waiting_for = std::move(keys);
        return;
      }
      default:
        return refuse(c, "unknown command " + std::to_string(req.command));
    }
  }

  // Consumes complete frames from c.in.
  void process_input(Connection& c) {
    size_t pos = 0;
    while (!c.close_after_flush && c.in.size() - pos >= 4) {
      uint32_t len = get_u32(c.in.data() + pos);
      if (len > kMaxStoreMessageBytes) return refuse(c, "message of " + std::to_string(len) + " bytes is over the limit");
      if (c.in.size() - pos - 4 < len) break;
      if (!c.waiting_for.empty()) return refuse(c, "request while a WAIT is pending");
      Request req;
      if (!parse_request(c.in.data() + pos + 4, len, req)) return refuse(c, "malformed request");
      pos += 4 + len;
      handle(c, req);
    }
    if (c.close_after_flush) return;
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(pos));
    if (pos > 0 || c.in.empty()) c.frame_started = Clock::now();
  }
};

TCPStoreServer::TCPStoreServer(uint16_t port, std::string run_id, std::chrono::milliseconds stall_timeout)
    : state_(std::make_unique<State>()) {
  state_->run_id = std::move(run_id);
  state_->stall_timeout = stall_timeout;
  // Dual-stack IPv6 when the host has it, plain IPv4 otherwise.
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  int rc = -1;
  if (fd >= 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(port);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0) ::close(fd);
  }
  if (rc != 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EMBER_CHECK(fd >= 0, "TCPStore: socket() failed: ", std::strerror(errno));
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc != 0) {
      int err = errno;
      ::close(fd);
      EMBER_FAIL("TCPStore: cannot listen on port ", port, ": ", std::strerror(err),
                 " (is another run using MASTER_PORT=", port, "?)");
    }
  }
  if (::listen(fd, 512) != 0) {
    int err = errno;
    ::close(fd);
    EMBER_FAIL("TCPStore: listen() failed: ", std::strerror(err));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  set_nonblocking(fd);
  state_->listen_fd = fd;
  if (::pipe2(state_->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(fd);
    EMBER_FAIL("TCPStore: pipe() failed: ", std::strerror(errno));
  }
  state_->thread = std::thread([this] { serve(); });
}

TCPStoreServer::~TCPStoreServer() {
  char byte = 1;
  ssize_t ignored = ::write(state_->wake_pipe[1], &byte, 1);
  (void)ignored;
  if (state_->thread.joinable()) state_->thread.join();
  for (auto& c : state_->connections) ::close(c.fd);
  ::close(state_->listen_fd);
  ::close(state_->wake_pipe[0]);
  ::close(state_->wake_pipe[1]);
}

int64_t TCPStoreServer::refused_connections() const { return state_->refused.load(); }

void TCPStoreServer::serve() {
  State& s = *state_;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({s.wake_pipe[0], POLLIN, 0});
    fds.push_back({s.listen_fd, POLLIN, 0});
    for (auto& c : s.connections) {
      short events = POLLIN;
      if (!c.out.empty()) events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), 500);
    if (rc < 0 && errno != EINTR) continue;
    if (fds[0].revents != 0) return;  // shutdown
    auto now = Clock::now();

    if (fds[1].revents & POLLIN) {
      for (;;) {
        int cfd = ::accept4(s.listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) break;
        if (s.connections.size() >= kMaxConnections) {
          ++s.refused;
          ::close(cfd);
          continue;
        }
        int one = 1;
        ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        State::Connection c;
        c.fd = cfd;
        c.opened = c.frame_started = now;
        s.connections.push_back(std::move(c));
      }
    }

    // fds[2 + i] belongs to connections[i] as they were before accepting.
    size_t polled = fds.size() - 2;
    std::vector<bool> drop(s.connections.size(), false);
    for (size_t i = 0; i < s.connections.size(); ++i) {
      State::Connection& c = s.connections[i];
      short revents = i < polled ? fds[2 + i].revents : 0;
      try {
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
          uint8_t buffer[65536];
          for (;;) {
            ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), 0);
            if (n > 0) {
              if (c.in.empty()) c.frame_started = now;
              c.in.insert(c.in.end(), buffer, buffer + n);
              // Never buffer more than one maximal frame: the length check refuses the rest.
              if (c.in.size() > kMaxStoreMessageBytes + 8) break;
              continue;
            }
            if (n == 0) drop[i] = true;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) drop[i] = true;
            break;
          }
          if (!c.close_after_flush) s.process_input(c);
        }
        // A frame begun but not finished in time, or a connection that never says hello.
        bool stalled = !c.in.empty() && now - c.frame_started > s.stall_timeout;
        bool silent = !c.greeted && now - c.opened > s.stall_timeout;
        if (!c.close_after_flush && (stalled || silent)) {
          s.refuse(c, "connection stalled");
        }
        if (!c.out.empty()) {
          ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
          if (n > 0) c.out.erase(c.out.begin(), c.out.begin() + n);
          else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) drop[i] = true;
        }
        if (c.close_after_flush && c.out.empty()) drop[i] = true;
      } catch (const std::exception&) {
        drop[i] = true;  // e.g. bad_alloc: lose this client, keep the store
      }
    }
    for (size_t i = s.connections.size(); i-- > 0;) {
      if (drop[i]) {
        ::close(s.connections[i].fd);
        s.connections.erase(s.connections.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }
}

// ---- client --------------------------------------------------------------------------------

TCPStore::TCPStore(const std::string& host, uint16_t port, std::string run_id, std::chrono::milliseconds timeout)
    : host_(host), port_(port), run_id_(std::move(run_id)), timeout_(timeout) {
  connect_with_retry(timeout);
}

TCPStore::~TCPStore() {
  if (fd_ >= 0) ::close(fd_);
}

void TCPStore::connect_with_retry(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto delay = std::chrono::milliseconds(10);
  // A name that does not resolve yet is retried too: a cluster's DNS may learn rank 0's host after
  // the other ranks start. The last attempt's failure goes into the error.
  std::string last_failure;
  for (;;) {
    fd_ = detail::connect_tcp(host_, port_, &last_failure);
    if (fd_ >= 0) break;
    EMBER_CHECK(Clock::now() < deadline, "TCPStore: could not reach the store at ", host_, ":", port_, " within ",
                timeout.count() / 1000.0, " s (last attempt: ", last_failure,
                "; is rank 0 running, and are MASTER_ADDR/MASTER_PORT right?)");
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
  request(kHello, {to_bytes(kMagic), to_bytes(run_id_)}, timeout_);
}

Bytes TCPStore::request(uint8_t command, const std::vector<Bytes>& args, std::chrono::milliseconds timeout) {
  EMBER_CHECK(fd_ >= 0, "TCPStore: the connection to ", host_, ":", port_, " was lost");
  Bytes payload;
  payload.push_back(command);
  put_u32(payload, static_cast<uint32_t>(args.size()));
  for (const Bytes& a : args) {
    put_u32(payload, static_cast<uint32_t>(a.size()));
    payload.insert(payload.end(), a.begin(), a.end());
  }
  EMBER_CHECK(payload.size() <= kMaxStoreMessageBytes, "TCPStore: a request of ", payload.size(),
              " bytes is over the ", kMaxStoreMessageBytes, "-byte limit");
  Bytes f = frame(payload);
  auto fail = [&](const std::string& what) {
    ::close(fd_);
    fd_ = -1;
    EMBER_FAIL("TCPStore: ", what, " (store at ", host_, ":", port_, ")");
  };
  if (!detail::write_all(fd_, f.data(), f.size())) fail("the store closed the connection (did rank 0 exit?)");
  auto deadline = Clock::now() + timeout;
  uint8_t header[4];
  if (!detail::read_all(fd_, header, 4, deadline)) {
    fail(Clock::now() >= deadline ? "no reply within " + std::to_string(timeout.count() / 1000.0) + " s"
                                  : std::string("the store closed the connection (did rank 0 exit?)"));
  }
  uint32_t len = get_u32(header);
  if (len < 1 || len > kMaxStoreMessageBytes) fail("malformed reply");
  Bytes reply(len);
  if (!detail::read_all(fd_, reply.data(), len, deadline)) fail("truncated reply");
  uint8_t status = reply[0];
  Bytes body(reply.begin() + 1, reply.end());
  if (status == kRefused) fail("refused: " + to_string(body));
  EMBER_CHECK(status != kFailed, "TCPStore: ", to_string(body), " (store at ", host_, ":", port_, ")");
  EMBER_CHECK(status != kNotFound, "TCPStore: key not found");
  return body;
}

void TCPStore::set(const std::string& key, const Bytes& value) {
  std::lock_guard<std::mutex> lock(mutex_);
  request(kSet, {to_bytes(key), value}, timeout_);
}

Bytes TCPStore::get(const std::string& key) {
  wait({key}, timeout_);
  std::lock_guard<std::mutex> lock(mutex_);
  return request(kGet, {to_bytes(key)}, timeout_);
}

std::string TCPStore::get_string(const std::string& key) { return to_string(get(key)); }

int64_t TCPStore::add(const std::string& key, int64_t delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  Bytes d;
  put_i64(d, delta);
  Bytes r = request(kAdd, {to_bytes(key), d}, timeout_);
  EMBER_CHECK(r.size() == 8, "TCPStore: malformed ADD reply");
  return get_i64(r.data());
}

bool TCPStore::check(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t first = 0; first == 0 || first < keys.size(); first += kKeysPerRequest) {
    Bytes r = request(kCheck, key_args(keys, first), timeout_);
    if (r.size() != 1 || r[0] != 1) return false;
  }
  return true;
}

void TCPStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    for (size_t first = 0; first == 0 || first < keys.size(); first += kKeysPerRequest) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      request(kWait, key_args(keys, first), std::max(left, std::chrono::milliseconds(1)));
    }
  } catch (const Error& e) {
    // The first few keys, and how many (a one-line error, even for thousands of keys).
    constexpr size_t kShown = 8;
    std::string names;
    for (size_t i = 0; i < keys.size() && i < kShown; ++i) names += (names.empty() ? "" : ", ") + keys[i];
    if (keys.size() > kShown) names += ", ... (" + std::to_string(keys.size()) + " keys)";
    std::string why = e.what();
    if (fd_ < 0 && why.find("no reply within") != std::string::npos) {
      // The pending WAIT died with the old connection; reconnect so the client stays usable.
      try {
        connect_with_retry(std::chrono::seconds(5));
      } catch (const Error&) {
      }
      EMBER_FAIL("TCPStore: timed out after ", timeout.count() / 1000.0, " s waiting for key(s) [", names,
                 "]: a rank did not arrive (did it die or never start?)");
    }
    throw;
  }
}

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::vector<std::string> full;
  for (const auto& k : keys) full.push_back(prefix_ + k);
  store_->wait(full, timeout);
}

}  // namespace ember::dist
