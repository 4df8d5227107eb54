#include "pullback/interrupt.h"
#include "python/bindings.h"

namespace {

// The exception a signal handler raised during eval (KeyboardInterrupt for Ctrl-C), kept
// aside while the kernel winds down and raised when Interrupted reaches Python.
thread_local PyObject* t_signal_error[3] = {nullptr, nullptr, nullptr};

// eval's interrupt poll: Python runs its signal handlers here. Only a thread holding the GIL
// may do so; C++ threads without it are never interrupted.
bool poll_python_signals() {
  if (!PyGILState_Check()) return false;
  if (PyErr_CheckSignals() == 0) return false;
  if (t_signal_error[0] == nullptr) {
    PyErr_Fetch(&t_signal_error[0], &t_signal_error[1], &t_signal_error[2]);
  } else {
    PyErr_Clear();  // a second signal before the first was reported: the first one wins
  }
  return true;
}

void translate_interrupt(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const pullback::Interrupted&) {
    if (t_signal_error[0] != nullptr) {
      PyErr_Restore(t_signal_error[0], t_signal_error[1], t_signal_error[2]);
      t_signal_error[0] = t_signal_error[1] = t_signal_error[2] = nullptr;
    } else {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  }
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "pullback's C++ core: arrays, ops and graph transforms.";
  // Arrays shared through DLPack with other frameworks can outlive this module at interpreter
  // exit (the consumer frees them later); nanobind would report those as leaks on every exit.
  nanobind::set_leak_warnings(false);
  pullback::set_interrupt_poll(poll_python_signals);
  nanobind::register_exception_translator(translate_interrupt);
  pullback::python::init_dtypes_devices(m);
  pullback::python::init_array(m);
  pullback::python::init_indexing(m);
  pullback::python::init_ops(m);
  pullback::python::init_transforms(m);
  pullback::python::init_compose(m);
  pullback::python::init_scan(m);
  pullback::python::init_sort(m);
  pullback::python::init_io(m);
  pullback::python::init_conv(m);
  pullback::python::init_random(m);
  pullback::python::init_special(m);
  pullback::python::init_fft(m);
  pullback::python::init_linalg(m);
  pullback::python::init_fast(m);
  pullback::python::init_fast_attention(m);
  pullback::python::init_custom(m);
  pullback::python::init_compile(m);
}
