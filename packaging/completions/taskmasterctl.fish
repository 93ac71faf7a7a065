# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_taskmasterctl_global_optspecs
    string join \n c/config= s/server-url= list h/help V/version
end

function __fish_taskmasterctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_taskmasterctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_taskmasterctl_using_subcommand
    set -l cmd (__fish_taskmasterctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -s c -l config -l configuration -d 'Config file to read the socket\'s location from' -r -F
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -s s -l server-url -l serverurl -d 'taskmasterd\'s socket: unix:///path/to/taskmaster.sock, or the bare path' -r
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -l list -d 'List the commands and the installed plugins (with their paths), then exit'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -s V -l version -d 'Print version'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "status" -d 'Show the state of processes (every process when no name is given)'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "start" -d 'Start processes; waits until they are RUNNING or have failed'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "stop" -d 'Stop processes: send each its stopsignal, then SIGKILL after stopwaitsecs'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "restart" -d 'Stop processes, then start them again (also the ones that were not running)'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "why" -d 'Explain what happened to a process, in order, and why'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "signal" -d 'Send a signal to running processes'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "pid" -d 'Print pids: taskmasterd\'s without a name, else each named process\'s'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "avail" -d 'List the configured programs: in use or not, autostart, priority'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "reread" -d 'Show what a reload would change, without changing anything'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "reload" -d 'Apply the config file now: restart only the programs that changed'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "update" -d 'Apply the config file now: restart only the programs that changed'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "events" -d 'Print every state change as it happens, until interrupted'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "tail" -d 'Print the last lines of a process\'s stdout or stderr log'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "maintail" -d 'Print the last lines of taskmasterd\'s activity log ([taskmasterd] logfile)'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "fg" -d 'Attach to a process: show its output live and send it what you type'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "clear" -d 'Empty the stdout and stderr log files of processes; they keep running'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "shutdown" -d 'Stop every process, then taskmasterd itself'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "version" -d 'Print taskmasterd\'s version (and taskmasterctl\'s when it differs)'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "help" -d 'Show help: the commands and plugins, or one command\'s help'
complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "completions" -d 'Print a completion script for a shell'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand status" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand start" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand start" -l transient -d 'Do not remember this as the operator\'s intent (statedir): after a restart of taskmasterd, autostart decides again'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand stop" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand stop" -l transient -d 'Do not remember this as the operator\'s intent (statedir): after a restart of taskmasterd, autostart decides again'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand restart" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand restart" -l transient -d 'Do not remember this as the operator\'s intent (statedir): after a restart of taskmasterd, autostart decides again'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand restart" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand why" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand why" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand pid" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand pid" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand avail" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand avail" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand reread" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand reread" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand reload" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand reload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand update" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand events" -l since -d 'Replay the events after this sequence number first' -r
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand events" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand tail" -s n -l lines -d 'How many of the last lines to print first' -r
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand tail" -s f -l follow -d 'Keep printing what is appended to the log, until interrupted'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand tail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand maintail" -s n -l lines -d 'How many of the last lines to print first' -r
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand maintail" -s f -l follow -d 'Keep printing what is appended to the log, until interrupted'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand maintail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand fg" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand clear" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand clear" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand shutdown" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand shutdown" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand version" -l json -d 'Print taskmasterd\'s answer as JSON, for scripts'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'

# taskmasterctl: process names from the running daemon, plugin names from $PATH.
function __taskmasterctl_names
    set -l words (commandline -opc)
    set -l globals
    for i in (seq 2 (math (count $words) - 1))
        switch $words[$i]
            case -c --config --configuration -s --server-url --serverurl
                set -a globals $words[$i] $words[(math $i + 1)]
        end
    end
    $words[1] $globals __complete-names 2>/dev/null
end

function __taskmasterctl_signal_given
    set -l seen 0
    for word in (commandline -opc)
        if test $seen -eq 1; and not string match -q -- '-*' $word
            return 0
        end
        test "$word" = signal; and set seen 1
    end
    return 1
end

complete -c taskmasterctl -n "__fish_taskmasterctl_needs_command" -f -a "(taskmasterctl __complete-names --plugins 2>/dev/null)" -d 'plugin'
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand status start stop restart pid clear tail fg why" -f -a "(__taskmasterctl_names)"
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal; and not __taskmasterctl_signal_given" -f -a "HUP INT QUIT KILL USR1 USR2 TERM ALRM CONT STOP TSTP WINCH"
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal; and __taskmasterctl_signal_given" -f -a "(__taskmasterctl_names)"
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand tail" -f -a "stdout stderr"
