"""The execution environment's lifecycle: states (nouns), events (verbs) and the allowed transitions."""

from __future__ import annotations

import enum


class State(enum.Enum):
    STARTING = "STARTING"    # process spawned, runtime initialising (Init phase)
    READY = "READY"          # runtime waits in invocation/next, process running
    FROZEN = "FROZEN"        # runtime waits in invocation/next, process group stopped (SIGSTOP)
    INVOKING = "INVOKING"    # an event is being handled
    RESPONDED = "RESPONDED"  # the answer is in, the runtime has not yet asked for the next event
    FAILED = "FAILED"        # init error, timeout, out of memory or crash: the process is killed
    STOPPED = "STOPPED"      # reaped; the environment is gone


class Event(enum.Enum):
    INIT_DONE = "init_done"
    INIT_FAILED = "init_failed"
    DISPATCH = "dispatch"
    FREEZE = "freeze"
    THAW = "thaw"
    RESPOND = "respond"
    NEXT = "next"
    FAIL = "fail"
    SHUTDOWN = "shutdown"


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.STARTING: {Event.INIT_DONE: State.READY, Event.INIT_FAILED: State.FAILED,
                     Event.FAIL: State.FAILED, Event.SHUTDOWN: State.STOPPED},
    State.READY: {Event.DISPATCH: State.INVOKING, Event.FREEZE: State.FROZEN,
                  Event.FAIL: State.FAILED, Event.SHUTDOWN: State.STOPPED},
    State.FROZEN: {Event.THAW: State.READY, Event.FAIL: State.FAILED, Event.SHUTDOWN: State.STOPPED},
    State.INVOKING: {Event.RESPOND: State.RESPONDED, Event.FAIL: State.FAILED,
                     Event.SHUTDOWN: State.STOPPED},
    State.RESPONDED: {Event.NEXT: State.READY, Event.FAIL: State.FAILED, Event.SHUTDOWN: State.STOPPED},
    State.FAILED: {Event.SHUTDOWN: State.STOPPED},
    State.STOPPED: {},
}

IDLE_STATES = frozenset({State.READY, State.FROZEN})
LIVE_STATES = frozenset({State.STARTING, State.READY, State.FROZEN, State.INVOKING, State.RESPONDED})


class TransitionError(Exception):
    def __init__(self, current: State, target: State | None, event: Event):
        self.current, self.target, self.event = current, target, event
        target_name = target.value if target else "?"
        super().__init__(f"State transition from {current.value} to {target_name} failed: "
                         f"event {event.value!r} is not allowed in state {current.value}")


# The state each event leads to from anywhere, used only to name the target in error messages.
_NOMINAL_TARGET = {Event.INIT_DONE: State.READY, Event.INIT_FAILED: State.FAILED,
                   Event.DISPATCH: State.INVOKING, Event.FREEZE: State.FROZEN, Event.THAW: State.READY,
                   Event.RESPOND: State.RESPONDED, Event.NEXT: State.READY, Event.FAIL: State.FAILED,
                   Event.SHUTDOWN: State.STOPPED}


class Lifecycle:
    def __init__(self, state: State = State.STARTING):
        self.state = state

    def allows(self, event: Event) -> bool:
        return event in TRANSITIONS[self.state]

    def fire(self, event: Event) -> State:
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            raise TransitionError(self.state, _NOMINAL_TARGET[event], event) from None
        return self.state
