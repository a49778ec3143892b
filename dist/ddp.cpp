#include <ember/dist/ddp.h>

#include <mutex>

#include <ember/autograd/engine.h>
#include <ember/autograd/grad_mode.h>
#include <ember/core/error.h>

namespace ember::dist {

struct DistributedDataParallel::Reducer {
  struct Bucket {
    Tensor buffer;                 // flat, every gradient of the bucket is a view into it
    std::vector<size_t> params;    // indices into Reducer::params
    std::vector<int64_t> offsets;  // element offset of each in buffer
    size_t pending = 0;            // parameters not yet ready this iteration
    std::shared_ptr<Work> work;
  };

  // Where an iteration stands: a forward outside no_sync() arms the reducer, the first gradient
  // of its backward starts the reduction, and the end of that backward finishes it (back to Idle).
  enum class Phase { Idle, Armed, Reducing };

  std::vector<std::string> names;
  TensorList params;
  std::vector<size_t> bucket_of;  // parameter -> bucket
  std::vector<size_t> slot_of;    // parameter -> position in its bucket
  std::vector<Bucket> buckets;
  std::shared_ptr<ProcessGroup> pg;
  bool find_unused = false;

  std::mutex mutex;
  Phase phase = Phase::Idle;
  std::vector<bool> ready;
  // Got a gradient since the last reduction (no_sync passes included): a parameter no rank used
  // keeps its .grad as it was, as PyTorch's reducer does.
  std::vector<bool> used;
  // .grad was undefined until attach_grads() made it a zeroed view (and no gradient came since).
  std::vector<bool> zero_attached;
  size_t next_launch = 0;  // buckets launch in order, the same on every rank

  Tensor grad_view(size_t i) const {
    const Bucket& b = buckets[bucket_of[i]];
    int64_t offset = b.offsets[slot_of[i]];
    return b.buffer.narrow(0, offset, params[i].numel()).view(params[i].sizes());
  }

  // Whether .grad of parameter i is its slot of the bucket (checked from the addresses: this runs in
  // every gradient hook, and making the view to compare with would allocate).
  bool attached(size_t i) const {
    const Tensor grad = params[i].grad();
    const Bucket& b = buckets[bucket_of[i]];
    const auto* slot = static_cast<const char*>(b.buffer.data_ptr()) +
                       b.offsets[slot_of[i]] * static_cast<int64_t>(element_size(b.buffer.dtype()));
    return grad.defined() && grad.storage() == b.buffer.storage() && grad.data_ptr() == slot &&
           grad.sizes() == params[i].sizes();
  }

  // Makes .grad of parameter i a view into its bucket again (after zero_grad(set_to_none) or a
  // user's set_grad), keeping the value it had (zero for none).
  void attach_grad(size_t i) {
    if (attached(i)) return;
    NoGradGuard no_grad;
    Tensor grad = params[i].grad();
    Tensor view = grad_view(i);
    if (grad.defined()) view.copy_(grad);
    else view.zero_();
    zero_attached[i] = !grad.defined();
    params[i].set_grad(view);
  }

  void attach_grads() {
    for (size_t i = 0; i < params.size(); ++i) attach_grad(i);
  }

  void launch_ready_buckets() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& b = buckets[next_launch++];
      b.work = pg->all_reduce_async(b.buffer, ReduceOp::Avg);
    }
  }

  // The grad hook of parameter i: its gradient for this backward is final.
  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    used[i] = true;
    zero_attached[i] = false;
    // Not armed (no_sync(), no_grad, or no DDP forward since the last reduction: a second backward,
    // say of a regulariser, after this iteration's reduction): the gradient stays local, as in PyTorch.
    if (phase == Phase::Idle) return;
    EMBER_CHECK(!ready[i], "DistributedDataParallel: parameter '", names[i], "' received a second gradient before "
                "this iteration's reduction finished (did the previous backward throw, or a backward run inside "
                "another?)");
    if (phase == Phase::Armed) {
      // The first gradient of this backward: finish the reduction when the backward ends.
      phase = Phase::Reducing;
      std::weak_ptr<Reducer> weak = self;
      autograd::queue_callback([weak] {
        if (auto reducer = weak.lock()) reducer->finalize();
      });
    }
    // The gradient went elsewhere if .grad was replaced after the forward (zero_grad(set_to_none)
    // between forward and backward): into the bucket with it.
    attach_grad(i);
    ready[i] = true;
    Bucket& b = buckets[bucket_of[i]];
    if (--b.pending == 0) launch_ready_buckets();
  }

  void prepare(bool sync) {
    std::lock_guard<std::mutex> lock(mutex);
    const bool unfinished = phase == Phase::Reducing;
    for (Bucket& b : buckets) {
      if (b.work) b.work->wait();
      b.work.reset();
      b.pending = b.params.size();
    }
    phase = Phase::Idle;
    next_launch = 0;
    ready.assign(params.size(), false);
    // A backward that threw half-way left its reduction unfinished: this rank launched some buckets
    // and not others, so the ranks no longer agree on what was averaged. Said once; a caller that
    // goes on starts from a clean reducer.
    EMBER_CHECK(!unfinished, "DistributedDataParallel: rank ", pg->rank(), ": forward called while the previous "
                "backward's gradient reduction is unfinished (that backward threw); the ranks' gradients may differ");
    if (sync) phase = Phase::Armed;
  }

  // Runs when the backward ends: marks the parameters that got no gradient (or names them), waits
  // for every bucket and leaves the .grad of parameters no rank used as they were.
  void finalize() {
    std::unique_lock<std::mutex> lock(mutex);
    if (phase != Phase::Reducing) return;
    std::vector<std::string> missing;
    for (size_t i = 0; i < params.size(); ++i) {
      if (ready[i]) continue;
      if (!find_unused) {
        missing.push_back(names[i]);
        continue;
      }
      attach_grad(i);  // reduce its accumulated (or zero) gradient with the others'
      ready[i] = true;
      --buckets[bucket_of[i]].pending;
    }
    if (!missing.empty()) {
      phase = Phase::Idle;
      std::string list;
      for (const auto& n : missing) list += (list.empty() ? "" : ", ") + n;
      EMBER_FAIL("DistributedDataParallel: rank ", pg->rank(), ": parameter(s) [", list,
                 "] received no gradient in this iteration. Make every parameter take part in the loss, or "
                 "construct DDP with DDPOptions::find_unused_parameters = true.");
    }
    launch_ready_buckets();
    // Which parameters any rank used: one more small all-reduce, after the buckets on every rank.
    Tensor used_anywhere;
    std::shared_ptr<Work> used_work;
    if (find_unused) {
      std::vector<float> flags(params.size());
      for (size_t i = 0; i < params.size(); ++i) flags[i] = used[i] ? 1.0f : 0.0f;
      used_anywhere = from_vector<float>(flags, {static_cast<int64_t>(flags.size())}).to(params[0].device());
      used_work = pg->all_reduce_async(used_anywhere, ReduceOp::Sum);
    }
    std::vector<std::shared_ptr<Work>> works;
    for (Bucket& b : buckets) works.push_back(b.work);
    phase = Phase::Idle;
    lock.unlock();
    for (auto& w : works) {
      if (w) w->wait();
    }
    if (used_work) {
      used_work->wait();
      const std::vector<float> counts = used_anywhere.to_vector<float>();
      for (size_t i = 0; i < params.size(); ++i) {
        if (counts[i] == 0.0f && zero_attached[i]) params[i].set_grad(Tensor());
      }
    }
    used.assign(params.size(), false);
  }

  std::weak_ptr<Reducer> self;
};

namespace {

std::string describe_params(const std::vector<std::string>& names, const TensorList& params) {
  std::string s;
  for (size_t i = 0; i < params.size(); ++i) {
    s += names[i] + " " + shape_str(params[i].sizes()) + " " + dtype_name(params[i].dtype()) + "\n";
  }
  return s;
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 std::shared_ptr<ProcessGroup> process_group, DDPOptions options)
    : module_(std::move(module)), process_group_(std::move(process_group)), options_(options) {
  EMBER_CHECK(module_ != nullptr && process_group_ != nullptr,
              "DistributedDataParallel: needs a module and a process group");
  EMBER_CHECK(options_.bucket_cap_bytes > 0 && options_.first_bucket_cap_bytes > 0,
              "DistributedDataParallel: bucket caps must be positive");
  auto r = std::make_shared<Reducer>();
  r->pg = process_group_;
  r->find_unused = options_.find_unused_parameters;
  for (auto& [name, p] : module_->named_parameters()) {
    if (!p.requires_grad()) continue;
    r->names.push_back(name);
    r->params.push_back(p);
  }

  // 1. Same model everywhere: compare this rank's parameter list with rank 0's through the store.
  static int instance = 0;
  std::string key = "ddp/" + std::to_string(instance++) + "/params/";
  std::string mine = describe_params(r->names, r->params);
  auto& store = *process_group_->store();
  if (process_group_->rank() == 0) store.set(key + "0", mine);
  std::string reference = store.get_string(key + "0");
  if (reference != mine) {
    // Name the first line that differs.
    size_t pos = 0;
    while (pos < mine.size() && pos < reference.size() && mine[pos] == reference[pos]) ++pos;
    auto line_at = [](const std::string& s, size_t p) {
      size_t b = s.rfind('\n', p == 0 ? 0 : p - 1);
      b = (b == std::string::npos || p == 0) ? 0 : b + 1;
      size_t e = s.find('\n', p);
      return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    };
    EMBER_FAIL("DistributedDataParallel: rank ", process_group_->rank(), " has a different model than rank 0: ",
               r->params.size(), " parameters here; first difference: here '", line_at(mine, pos), "', rank 0 '",
               line_at(reference, pos), "'");
  }

  // 2. Everyone starts from rank 0's parameters and buffers (broadcast, never averaged).
  {
    NoGradGuard no_grad;
    for (auto& p : module_->parameters()) process_group_->broadcast(p, 0);
    for (auto& [name, b] : module_->named_buffers()) process_group_->broadcast(b, 0);
  }

  // 3. Buckets in reverse registration order, split on a cap or a change of device/dtype.
  r->bucket_of.resize(r->params.size());
  r->slot_of.resize(r->params.size());
  std::vector<std::vector<size_t>> groups;
  int64_t bytes = 0;
  for (size_t k = r->params.size(); k-- > 0;) {
    const Tensor& p = r->params[k];
    // The bucket being filled is the first one while groups.size() == 1.
    int64_t cap = groups.size() == 1 ? options_.first_bucket_cap_bytes : options_.bucket_cap_bytes;
    bool start_new = groups.empty();
    if (!start_new) {
      const Tensor& first = r->params[groups.back().front()];
      int64_t p_bytes = static_cast<int64_t>(p.nbytes());
      start_new = bytes + p_bytes > cap || first.dtype() != p.dtype() || first.device() != p.device();
    }
    if (start_new) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(k);
    bytes += static_cast<int64_t>(p.nbytes());
  }
  for (auto& g : groups) {
    Reducer::Bucket b;
    int64_t numel = 0;
    for (size_t k : g) {
      r->bucket_of[k] = r->buckets.size();
      r->slot_of[k] = b.params.size();
      b.params.push_back(k);
      b.offsets.push_back(numel);
      numel += r->params[k].numel();
    }
    const Tensor& first = r->params[g.front()];
    b.buffer = zeros({numel}, TensorOptions(first.dtype()).with_device(first.device()));
    r->buckets.push_back(std::move(b));
  }
  r->used.assign(r->params.size(), false);
  r->zero_attached.assign(r->params.size(), false);
  r->attach_grads();
  r->self = r;

  // 4. Hooks: the reducer learns about each gradient right after it is accumulated.
  std::weak_ptr<Reducer> weak = r;
  for (size_t i = 0; i < r->params.size(); ++i) {
    r->params[i].register_grad_hook([weak, i](const Tensor&) {
      if (auto reducer = weak.lock()) reducer->mark_ready(i);
    });
  }
  reducer_ = std::move(r);
}

DistributedDataParallel::~DistributedDataParallel() {
  // Outstanding reductions must not write into buffers after we are gone; never throw here.
  try {
    for (auto& b : reducer_->buckets) {
      if (b.work) b.work->wait();
    }
  } catch (...) {
  }
}

Tensor DistributedDataParallel::forward(const Tensor& input) {
  // As PyTorch's: gradients are reduced whenever grad mode is on outside no_sync(), in eval mode too.
  bool sync = !no_sync_ && autograd::GradMode::is_enabled();
  if (options_.broadcast_buffers && process_group_->size() > 1) {
    NoGradGuard no_grad;
    for (auto& [name, b] : module_->named_buffers()) process_group_->broadcast(b, 0);
  }
  // prepare() first: it waits for a reduction nobody waited for, which still writes the buffers
  // that attach_grads() may copy into or zero.
  reducer_->prepare(sync);
  reducer_->attach_grads();
  return module_->forward(input);
}

void DistributedDataParallel::finalize() { reducer_->finalize(); }

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.no_sync_) {
  ddp_.no_sync_ = true;
}
DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.no_sync_ = previous_; }

std::vector<std::vector<std::string>> DistributedDataParallel::bucket_layout() const {
  std::vector<std::vector<std::string>> layout;
  for (const auto& b : reducer_->buckets) {
    layout.emplace_back();
    for (size_t k : b.params) layout.back().push_back(reducer_->names[k]);
  }
  return layout;
}

}  // namespace ember::dist
