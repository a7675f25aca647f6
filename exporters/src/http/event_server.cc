#include "http/event_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::exporters::http {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenerTag = 0;
constexpr uint64_t kWakeTag = 1;
constexpr uint64_t kFirstConnection = 2;
constexpr auto kTick = std::chrono::milliseconds(100);

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Status";
}

std::string peer_address(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof text);
  }
  return text;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string serialize(const Response& r, bool close, bool head_only) {
  std::string out = serialize_head(r, close, head_only ? 0 : r.body.size());
  if (!head_only) out += r.body;
  return out;
}

std::string serialize_head(const Response& r, bool close, size_t room) {
  std::string out;
  out.reserve(160 + room);
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += reason_phrase(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\nCache-Control: no-store\r\n";
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

class EventServer::Impl {
 public:
  Impl(EventServerOptions options, Handler handler, Urgent urgent, ErrorBody error_body)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        urgent_(std::move(urgent)),
        error_body_(std::move(error_body)) {}

  Status start();
  void stop();
  void close_descriptors();
  uint16_t port() const { return port_; }
  Stats stats() const;

 private:
  enum class Phase { reading, processing, writing };

  // Owned by the epoll thread alone.
  struct Connection {
    int fd = -1;
    std::string peer;
    std::string in;   // bytes read and not yet parsed into a request
    std::string out;       // the response being written: its head (or all of it) ...
    std::string out_body;  // ... and its body, sent after it without being copied into it
    std::function<void(std::string)> recycle;  // the body's, once written
    size_t written = 0;    // of out, then of out_body
    Phase phase = Phase::reading;
    bool close_after_write = false;
    bool started = false;    // the current request's first byte arrived
    bool head_done = false;  // ... and its head (the body is awaited)
    HeadParse parsed;        // valid when head_done
    uint64_t served = 0;
    Clock::time_point deadline;
    bool deadline_is_idle = false;
  };

  struct Job {
    uint64_t id;
    Request request;
    bool close;
    bool head_only;
    bool http10_keep_alive;  // an HTTP/1.0 client that asked to keep it open
  };

  struct Done {
    uint64_t id;
    std::string bytes;  // the head
    std::string body;   // empty for HEAD
    bool close;
    std::function<void(std::string)> recycle;
  };

  void loop();
  void accept_all();
  void on_event(uint64_t id, uint32_t events);
  void read_from(uint64_t id, Connection& c);
  // Parses what `c` has buffered and moves it on; may close it.
  void advance(uint64_t id, Connection& c);
  void answer_now(uint64_t id, Connection& c, int status, const std::string& message);
  void begin_write(uint64_t id, Connection& c, std::string bytes, bool close, std::string body = {},
                   std::function<void(std::string)> recycle = {});
  void flush(uint64_t id, Connection& c);
  void watch(uint64_t id, const Connection& c, uint32_t events);
  void close_connection(uint64_t id);
  void collect_done();
  void sweep_deadlines();
  bool make_room();
  void work(bool urgent_only);

  const EventServerOptions options_;
  const Handler handler_;
  const Urgent urgent_;
  const ErrorBody error_body_;
  int listener_ = -1;
  int epoll_ = -1;
  int wake_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread io_thread_;
  std::vector<std::thread> workers_;

  // The epoll thread's own.
  std::unordered_map<uint64_t, Connection> connections_;
  uint64_t next_id_ = kFirstConnection;

  detail::Mutex jobs_mu_;
  detail::CondVar general_cv_;
  detail::CondVar urgent_cv_;
  std::deque<Job> urgent_jobs_ GUARDED_BY(jobs_mu_);
  std::deque<Job> jobs_ GUARDED_BY(jobs_mu_);
  bool workers_stop_ GUARDED_BY(jobs_mu_) = false;

  detail::Mutex done_mu_;
  std::vector<Done> done_ GUARDED_BY(done_mu_);

  std::atomic<uint64_t> accepted_{0}, requests_{0}, timed_out_{0}, refused_{0}, open_{0};
};

Status EventServer::Impl::start() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options_.port);
  if (const int rc = getaddrinfo(options_.host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Error(Errc::invalid_argument, "cannot resolve '" + options_.host + "': " + gai_strerror(rc));
  }
  sockaddr_storage addr{};
  const socklen_t addr_len = found->ai_addrlen;
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  const bool v6 = addr.ss_family == AF_INET6;
  listener_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener_ < 0) return Error(Errc::invalid_argument, "socket: " + errno_text());
  const int one = 1;
  setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 || listen(listener_, 1024) != 0) {
    const std::string why = errno_text();
    ::close(listener_);
    listener_ = -1;
    return Error(Errc::invalid_argument, why);
  }
  socklen_t len = sizeof addr;
  getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port : reinterpret_cast<sockaddr_in&>(addr).sin_port);

  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_ < 0 || wake_ < 0) return Error(Errc::invalid_argument, "epoll/eventfd: " + errno_text());
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);

  io_thread_ = std::thread([this] { loop(); });
  workers_.emplace_back([this] { work(true); });
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) workers_.emplace_back([this] { work(false); });
  return {};
}

void EventServer::Impl::stop() {
  if (!io_thread_.joinable()) {
    close_descriptors();  // start failed part way: nothing runs, but fds may be open
    return;
  }
  {
    detail::MutexLock lock(&jobs_mu_);
    workers_stop_ = true;
  }
  general_cv_.notify_all();
  urgent_cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_, &one, sizeof one);
  io_thread_.join();
  for (auto& [id, c] : connections_) ::close(c.fd);
  connections_.clear();
  open_ = 0;
  close_descriptors();
}

void EventServer::Impl::close_descriptors() {
  for (int* fd : {&listener_, &epoll_, &wake_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

EventServer::Stats EventServer::Impl::stats() const {
  return Stats{accepted_.load(), requests_.load(), timed_out_.load(), refused_.load(), open_.load()};
}

void EventServer::Impl::loop() {
  epoll_event events[256];
  auto next_sweep = Clock::now() + kTick;
  while (!stopping_) {
    const int n = epoll_wait(epoll_, events, 256, static_cast<int>(kTick.count()));
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kListenerTag) {
        accept_all();
      } else if (tag == kWakeTag) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = read(wake_, &count, sizeof count);
        collect_done();
      } else {
        on_event(tag, events[i].events);
      }
    }
    if (Clock::now() >= next_sweep) {
      sweep_deadlines();
      next_sweep = Clock::now() + kTick;
    }
  }
}

void EventServer::Impl::accept_all() {
  for (int round = 0; round < 256; ++round) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = accept4(listener_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or the peer gave up (ECONNABORTED): nothing to do
    accepted_.fetch_add(1, std::memory_order_relaxed);
    if (connections_.size() >= options_.max_connections && !make_room()) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      ::close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const uint64_t id = next_id_++;
    Connection& c = connections_[id];
    c.fd = fd;
    c.peer = peer_address(addr);
    c.deadline = Clock::now() + options_.head_timeout;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    open_.store(connections_.size(), std::memory_order_relaxed);
  }
}

// Closes the idle keep-alive connection that has waited longest.
bool EventServer::Impl::make_room() {
  uint64_t oldest = 0;
  Clock::time_point oldest_deadline = Clock::time_point::max();
  for (const auto& [id, c] : connections_) {
    if (c.phase == Phase::reading && c.deadline_is_idle && c.deadline < oldest_deadline) {
      oldest = id;
      oldest_deadline = c.deadline;
    }
  }
  if (oldest == 0) return false;
  close_connection(oldest);
  return true;
}

void EventServer::Impl::watch(uint64_t id, const Connection& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
}

void EventServer::Impl::close_connection(uint64_t id) {
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  ::close(it->second.fd);  // also takes it out of the epoll set
  connections_.erase(it);
  open_.store(connections_.size(), std::memory_order_relaxed);
}

void EventServer::Impl::on_event(uint64_t id, uint32_t events) {
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = it->second;
  if (events & EPOLLERR) return close_connection(id);
  // Both directions are gone: nothing more can be read or delivered.
  if ((events & EPOLLHUP) && c.phase != Phase::reading) return close_connection(id);
  if ((events & EPOLLOUT) && c.phase == Phase::writing) return flush(id, c);
  if (events & (EPOLLIN | EPOLLHUP)) {
    if (c.phase != Phase::reading) return;
    read_from(id, c);
  }
}

void EventServer::Impl::read_from(uint64_t id, Connection& c) {
  // Read at most what one request may be, so a flood cannot grow the buffer.
  const size_t cap = options_.max_head_bytes + options_.max_body_bytes + 4096;
  char buf[16384];
  bool peer_closed = false;
  for (;;) {
    if (c.in.size() >= cap) break;
    const ssize_t n = recv(c.fd, buf, std::min(sizeof buf, cap - c.in.size()), 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) peer_closed = true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) peer_closed = true;
    break;
  }
  advance(id, c);
  if (!peer_closed) return;
  // The client will send nothing more: what is buffered is all there is.
  const auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& still = it->second;
  if (still.phase == Phase::reading) {
    if (still.head_done) {
      answer_now(id, still, 400,
                 "the body is shorter than its Content-Length (got " +
                     std::to_string(still.in.size() - still.parsed.head_bytes) + " of " +
                     std::to_string(still.parsed.head.content_length) + " bytes)");
    } else {
      close_connection(id);
    }
  } else {
    // Answer what was asked, then close (it may only have shut down its
    // sending side).
    still.close_after_write = true;
  }
}

void EventServer::Impl::advance(uint64_t id, Connection& c) {
  if (c.phase != Phase::reading) return;
  const auto now = Clock::now();
  if (c.in.empty()) {
    if (c.served > 0 && !c.deadline_is_idle) {
      c.deadline = now + options_.idle_timeout;
      c.deadline_is_idle = true;
    }
    return;
  }
  if (!c.started) {
    c.started = true;
    c.deadline_is_idle = false;
    c.deadline = now + options_.head_timeout;
  }
  if (!c.head_done) {
    c.parsed = parse_request_head(c.in, options_.max_head_bytes);
    if (c.parsed.state == HeadParse::State::incomplete) return;
    if (c.parsed.state == HeadParse::State::invalid) return answer_now(id, c, c.parsed.status, c.parsed.message);
    if (c.parsed.head.content_length > options_.max_body_bytes) {
      return answer_now(id, c, 413,
                        "request body of " + std::to_string(c.parsed.head.content_length) +
                            " bytes is over the limit of " + std::to_string(options_.max_body_bytes) +
                            " bytes (server.max_request_bytes)");
    }
    c.head_done = true;
    c.deadline = now + options_.body_timeout;
  }
  const size_t total = c.parsed.head_bytes + c.parsed.head.content_length;
  if (c.in.size() < total) return;

  Job job{id, Request{std::move(c.parsed.head), c.in.substr(c.parsed.head_bytes, c.parsed.head.content_length), c.peer},
          false, false, false};
  job.close = !job.request.head.keep_alive;
  job.http10_keep_alive = job.request.head.keep_alive && job.request.head.minor_version == 0;
  job.head_only = job.request.head.method == "HEAD";
  c.in.erase(0, total);
  c.started = c.head_done = false;
  c.phase = Phase::processing;
  watch(id, c, 0);
  requests_.fetch_add(1, std::memory_order_relaxed);
  const bool urgent = urgent_ && urgent_(job.request.head);
  {
    detail::MutexLock lock(&jobs_mu_);
    (urgent ? urgent_jobs_ : jobs_).push_back(std::move(job));
  }
  if (urgent) urgent_cv_.notify_one();
  general_cv_.notify_one();
}

void EventServer::Impl::answer_now(uint64_t id, Connection& c, int status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = error_body_(message);
  // After a framing error the rest of the stream cannot be trusted.
  begin_write(id, c, serialize(r, true, false), true);
}

void EventServer::Impl::begin_write(uint64_t id, Connection& c, std::string bytes, bool close, std::string body,
                                    std::function<void(std::string)> recycle) {
  c.out = std::move(bytes);
  c.out_body = std::move(body);
  c.recycle = std::move(recycle);
  c.written = 0;
  c.phase = Phase::writing;
  c.close_after_write = c.close_after_write || close;
  c.deadline = Clock::now() + options_.write_timeout;
  c.deadline_is_idle = false;
  flush(id, c);
}

void EventServer::Impl::flush(uint64_t id, Connection& c) {
  const size_t total = c.out.size() + c.out_body.size();
  while (c.written < total) {
    // Head and body in one call: one segment on the wire when they fit.
    iovec parts[2];
    int count = 0;
    if (c.written < c.out.size()) {
      parts[count++] = {c.out.data() + c.written, c.out.size() - c.written};
      if (!c.out_body.empty()) parts[count++] = {c.out_body.data(), c.out_body.size()};
    } else {
      const size_t from = c.written - c.out.size();
      parts[count++] = {c.out_body.data() + from, c.out_body.size() - from};
    }
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = sendmsg(c.fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch(id, c, EPOLLOUT);
    return close_connection(id);
  }
  if (c.recycle) {
    c.recycle(std::move(c.out_body));
    c.recycle = nullptr;
  }
  if (c.close_after_write) {
    // Let the peer read the answer before the close: FIN, not RST.
    shutdown(c.fd, SHUT_WR);
    return close_connection(id);
  }
  std::string().swap(c.out);
  std::string().swap(c.out_body);
  c.written = 0;
  c.phase = Phase::reading;
  ++c.served;
  watch(id, c, EPOLLIN);
  advance(id, c);  // a pipelined request may be waiting already
}

void EventServer::Impl::collect_done() {
  std::vector<Done> done;
  {
    detail::MutexLock lock(&done_mu_);
    done.swap(done_);
  }
  for (Done& d : done) {
    const auto it = connections_.find(d.id);
    if (it == connections_.end()) continue;  // the client went away meanwhile
    begin_write(d.id, it->second, std::move(d.bytes), d.close, std::move(d.body), std::move(d.recycle));
  }
}

void EventServer::Impl::sweep_deadlines() {
  const auto now = Clock::now();
  std::vector<uint64_t> late;
  for (const auto& [id, c] : connections_) {
    if (c.phase != Phase::processing && now >= c.deadline) late.push_back(id);
  }
  for (const uint64_t id : late) {
    const auto it = connections_.find(id);
    Connection& c = it->second;
    if (c.phase == Phase::reading && c.head_done) {
      timed_out_.fetch_add(1, std::memory_order_relaxed);
      answer_now(id, c, 400,
                 "the body is shorter than its Content-Length (got " +
                     std::to_string(c.in.size() - c.parsed.head_bytes) + " of " +
                     std::to_string(c.parsed.head.content_length) + " bytes in " +
                     std::to_string(options_.body_timeout.count()) + " ms)");
      continue;
    }
    if (!c.deadline_is_idle) timed_out_.fetch_add(1, std::memory_order_relaxed);
    close_connection(id);
  }
}

void EventServer::Impl::work(bool urgent_only) {
  for (;;) {
    Job job;
    {
      detail::MutexLock lock(&jobs_mu_);
      for (;;) {
        if (workers_stop_) return;
        if (!urgent_jobs_.empty()) {
          job = std::move(urgent_jobs_.front());
          urgent_jobs_.pop_front();
          break;
        }
        if (!urgent_only && !jobs_.empty()) {
          job = std::move(jobs_.front());
          jobs_.pop_front();
          break;
        }
        (urgent_only ? urgent_cv_ : general_cv_).wait(jobs_mu_);
      }
    }
    Response response;
    try {
      response = handler_(job.request);
    } catch (const std::exception& e) {
      response = Response{500, "application/json", error_body_(std::string("internal error: ") + e.what()), {}};
    }
    if (job.http10_keep_alive) response.headers.emplace_back("Connection", "keep-alive");
    // The body is handed on as it is (a scrape's megabytes are not copied
    // behind the head).
    Done done{job.id, serialize_head(response, job.close, 0), {}, job.close, {}};
    if (!job.head_only) {
      done.body = std::move(response.body);
      done.recycle = std::move(response.recycle);
    }
    {
      detail::MutexLock lock(&done_mu_);
      done_.push_back(std::move(done));
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_, &one, sizeof one);
  }
}

EventServer::EventServer(EventServerOptions options, Handler handler, Urgent urgent, ErrorBody error_body)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), std::move(urgent), std::move(error_body))) {}

EventServer::~EventServer() { stop(); }

Status EventServer::start() { return impl_->start(); }

void EventServer::stop() { impl_->stop(); }

uint16_t EventServer::port() const { return impl_->port(); }

EventServer::Stats EventServer::stats() const { return impl_->stats(); }

}  // namespace canopy::exporters::http
