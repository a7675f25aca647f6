#!/usr/bin/env escript
%% -*- erlang -*-
%%! +P 2000000 -noinput
%%
%% Erlang/OTP peer for the canopy benchmark suite.
%%
%% Implements the same four workloads as `canopy-bench` and the CAF peer and
%% prints exactly one line per run:
%%
%%   bench=WORKLOAD impl=erlang key=value ...
%%
%% Usage:
%%   escript bench/peers/erlang/peer.escript ring     [--processes 10000] [--hops 10000000]
%%   escript bench/peers/erlang/peer.escript pingpong [--roundtrips 1000000]
%%   escript bench/peers/erlang/peer.escript spawn    [--processes 1000000]
%%   escript bench/peers/erlang/peer.escript fanin    [--producers 8] [--messages 1000000]
%%   common: [--schedulers N]  (default: all cores; sets schedulers_online)
%%   fanin:  [--message-queue-data off_heap|on_heap]  (consumer's
%%           message_queue_data flag; default off_heap, see fanin/1)
%%
%% `-mode(compile)` makes escript compile this module with the normal
%% compiler (not the interpreter), so all hot loops run as BEAM code.
%% `+P 2000000` raises the process limit so 1M processes can be spawned.
-mode(compile).

main([Workload | Args]) ->
    Opts = parse(Args, #{}),
    Sched = maps:get(schedulers, Opts, erlang:system_info(schedulers)),
    %% schedulers_online can only go up to the number of schedulers started
    %% (one per core by default).
    _ = erlang:system_flag(schedulers_online,
                           max(1, min(Sched, erlang:system_info(schedulers)))),
    case Workload of
        "ring" -> ring(Opts);
        "pingpong" -> pingpong(Opts);
        "spawn" -> spawn_bench(Opts);
        "fanin" -> fanin(Opts);
        _ -> usage()
    end,
    halt(0);
main(_) ->
    usage().

usage() ->
    io:format(standard_error,
              "usage: peer.escript ring|pingpong|spawn|fanin [--processes N] "
              "[--hops N] [--roundtrips N] [--producers N] [--messages N] "
              "[--schedulers N] [--message-queue-data off_heap|on_heap]~n",
              []),
    halt(2).

parse([], Acc) -> Acc;
parse(["--message-queue-data", Mqd | Rest], Acc)
  when Mqd =:= "off_heap"; Mqd =:= "on_heap" ->
    parse(Rest, Acc#{mqd => list_to_atom(Mqd)});
parse([Flag, Val | Rest], Acc) ->
    Key = case Flag of
              "--processes" -> processes;
              "--hops" -> hops;
              "--roundtrips" -> roundtrips;
              "--producers" -> producers;
              "--messages" -> messages;
              "--schedulers" -> schedulers;
              _ -> usage()
          end,
    N = try list_to_integer(Val) catch _:_ -> usage() end,
    N >= 0 orelse usage(),
    parse(Rest, Acc#{Key => N});
parse(_, _) ->
    usage().

now_us() -> erlang:monotonic_time(microsecond).

secs(T0, T1) -> (T1 - T0) / 1.0e6.

rate(_Count, Wall) when Wall =< 0 -> 0.0;
rate(Count, Wall) -> Count / Wall.

%% ---------------------------------------------------------------------------
%% ring: N processes, one token, H hops in total. The injection from the main
%% process into node 0 counts as the first hop; the node receiving 1 did the
%% last one and reports back.

ring(Opts) ->
    N = max(1, maps:get(processes, Opts, 10000)),
    H = maps:get(hops, Opts, 10000000),
    Main = self(),
    %% Node 0 waits for its successor; nodes N-1..1 get theirs at spawn.
    First = spawn(fun() -> receive {next, Nx} -> ring_loop(Nx, Main) end end),
    Succ = build_ring(N - 1, First, Main),
    First ! {next, Succ},
    T0 = now_us(),
    case H > 0 of
        true -> First ! H, receive ring_done -> ok end;
        false -> ok
    end,
    T1 = now_us(),
    Wall = secs(T0, T1),
    io:format("bench=ring impl=erlang processes=~B hops=~B hops_per_s=~B "
              "wall_s=~.6f~n", [N, H, round(rate(H, Wall)), Wall]).

build_ring(0, Succ, _Main) -> Succ;
build_ring(K, Succ, Main) ->
    P = spawn(fun() -> ring_loop(Succ, Main) end),
    build_ring(K - 1, P, Main).

ring_loop(Next, Main) ->
    receive
        1 -> Main ! ring_done, ring_loop(Next, Main);
        K -> Next ! K - 1, ring_loop(Next, Main)
    end.

%% ---------------------------------------------------------------------------
%% pingpong: ping -> pong -> ping is one roundtrip.

pingpong(Opts) ->
    R = maps:get(roundtrips, Opts, 1000000),
    Main = self(),
    Pong = spawn(fun() -> receive {peer, P} -> pong_loop(P) end end),
    Ping = spawn(fun() -> receive go -> ping_start(Pong, Main, R) end end),
    Pong ! {peer, Ping},
    T0 = now_us(),
    Ping ! go,
    receive pingpong_done -> ok end,
    T1 = now_us(),
    Wall = secs(T0, T1),
    io:format("bench=pingpong impl=erlang roundtrips=~B roundtrips_per_s=~B "
              "wall_s=~.6f~n", [R, round(rate(R, Wall)), Wall]).

ping_start(_Pong, Main, R) when R =< 0 -> Main ! pingpong_done;
ping_start(Pong, Main, R) -> Pong ! 1, ping_loop(Pong, Main, R).

ping_loop(Pong, Main, R) ->
    receive
        N when N >= R -> Main ! pingpong_done;
        N -> Pong ! N + 1, ping_loop(Pong, Main, R)
    end.

pong_loop(Ping) ->
    receive N -> Ping ! N, pong_loop(Ping) end.

%% ---------------------------------------------------------------------------
%% spawn: N idle processes blocked in receive.
%%
%% spawn_s = from the first spawn until all N processes have run and are
%% blocked in `receive` (each bumps an atomic counter first; the one that
%% completes the count notifies the main process). The CAF peer measures the
%% same readiness condition.
%%
%% rss_bytes_per_process = (VmRSS after - VmRSS before) / N, with VmRSS read
%% from /proc/<os pid>/status of the BEAM OS process via file:read_file (not
%% erlang:memory(total)), so it is comparable to the C++ implementations.
%% It includes the list of N pids kept by the main process.
%%
%% exit_s = from sending every process `stop` until
%% erlang:system_info(process_count) is back to its pre-spawn value (polled
%% every 1 ms).

spawn_bench(Opts) ->
    N = maps:get(processes, Opts, 1000000),
    Main = self(),
    Ready = atomics:new(1, []),
    BaseCount = erlang:system_info(process_count),
    Rss0 = vm_rss(),
    T0 = now_us(),
    Pids = spawn_n(N, N, Ready, Main, []),
    case N > 0 of
        true -> receive all_ready -> ok end;
        false -> ok
    end,
    T1 = now_us(),
    Rss1 = vm_rss(),
    T2 = now_us(),
    lists:foreach(fun(P) -> P ! stop end, Pids),
    wait_gone(BaseCount),
    T3 = now_us(),
    PerProc = case N of 0 -> 0.0; _ -> (Rss1 - Rss0) / N end,
    io:format("bench=spawn impl=erlang processes=~B spawn_s=~.6f "
              "rss_bytes_per_process=~.1f exit_s=~.6f~n",
              [N, secs(T0, T1), PerProc, secs(T2, T3)]).

spawn_n(0, _N, _Ready, _Main, Acc) -> Acc;
spawn_n(K, N, Ready, Main, Acc) ->
    P = spawn(fun() -> idle(N, Ready, Main) end),
    spawn_n(K - 1, N, Ready, Main, [P | Acc]).

%% Idle process: count itself as ready (the last one tells Main), then block.
idle(N, Ready, Main) ->
    case atomics:add_get(Ready, 1, 1) of
        N -> Main ! all_ready;
        _ -> ok
    end,
    receive stop -> ok end.

wait_gone(Base) ->
    case erlang:system_info(process_count) =< Base of
        true -> ok;
        false -> receive after 1 -> wait_gone(Base) end
    end.

vm_rss() ->
    Path = "/proc/" ++ os:getpid() ++ "/status",
    {ok, Bin} = file:read_file(Path),
    {match, [Kb]} = re:run(Bin, "VmRSS:\\s+([0-9]+)\\s+kB",
                           [{capture, all_but_first, list}]),
    list_to_integer(Kb) * 1024.

%% ---------------------------------------------------------------------------
%% fanin: P producers each send M messages to one consumer. The consumer
%% checks its own message_queue_len every 1024 messages; the largest value
%% seen is peak_mailbox.
%%
%% The consumer runs with {message_queue_data, off_heap}, the setting the OTP
%% efficiency guide recommends for processes that receive many messages. With
%% the default (on_heap) the huge queue is dragged through every GC of the
%% consumer and throughput drops ~10x on this workload (measured ~0.9M vs
%% ~8-12M msgs/s on a 2-core box); pass --message-queue-data on_heap to see it.

fanin(Opts) ->
    P = maps:get(producers, Opts, 8),
    M = maps:get(messages, Opts, 1000000),
    Total = P * M,
    Main = self(),
    Mqd = maps:get(mqd, Opts, off_heap),
    Consumer = spawn_opt(fun() -> consume(Total, 0, 1024, Main) end,
                         [{message_queue_data, Mqd}]),
    Producers = [spawn(fun() -> receive go -> produce(Consumer, M) end end)
                 || _ <- lists:seq(1, P)],
    T0 = now_us(),
    lists:foreach(fun(Pr) -> Pr ! go end, Producers),
    Peak = receive {fanin_done, Pk} -> Pk end,
    T1 = now_us(),
    Wall = secs(T0, T1),
    io:format("bench=fanin impl=erlang producers=~B messages=~B msgs_per_s=~B "
              "peak_mailbox=~B wall_s=~.6f~n",
              [P, M, round(rate(Total, Wall)), Peak, Wall]).

produce(_C, 0) -> ok;
produce(C, K) -> C ! msg, produce(C, K - 1).

consume(0, Peak, _Tick, Main) ->
    Main ! {fanin_done, Peak};
consume(Left, Peak, 1, Main) ->
    receive
        _ ->
            {message_queue_len, L} = erlang:process_info(self(),
                                                         message_queue_len),
            consume(Left - 1, max(Peak, L), 1024, Main)
    end;
consume(Left, Peak, Tick, Main) ->
    receive
        _ -> consume(Left - 1, Peak, Tick - 1, Main)
    end.
