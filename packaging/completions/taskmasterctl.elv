
use builtin;
use str;

set edit:completion:arg-completer[taskmasterctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'taskmasterctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'taskmasterctl'= {
            cand -c 'Config file to read the socket''s location from'
            cand --config 'Config file to read the socket''s location from'
            cand --configuration 'Config file to read the socket''s location from'
            cand -s 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path'
            cand --server-url 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path'
            cand --serverurl 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path'
            cand --list 'List the commands and the installed plugins (with their paths), then exit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'Show the state of processes (every process when no name is given)'
            cand start 'Start processes; waits until they are RUNNING or have failed'
            cand stop 'Stop processes: send each its stopsignal, then SIGKILL after stopwaitsecs'
            cand restart 'Stop processes, then start them again (also the ones that were not running)'
            cand why 'Explain what happened to a process, in order, and why'
            cand signal 'Send a signal to running processes'
            cand pid 'Print pids: taskmasterd''s without a name, else each named process''s'
            cand avail 'List the configured programs: in use or not, autostart, priority'
            cand reread 'Show what a reload would change, without changing anything'
            cand reload 'Apply the config file now: restart only the programs that changed'
            cand update 'Apply the config file now: restart only the programs that changed'
            cand events 'Print every state change as it happens, until interrupted'
            cand tail 'Print the last lines of a process''s stdout or stderr log'
            cand maintail 'Print the last lines of taskmasterd''s activity log ([taskmasterd] logfile)'
            cand fg 'Attach to a process: show its output live and send it what you type'
            cand clear 'Empty the stdout and stderr log files of processes; they keep running'
            cand shutdown 'Stop every process, then taskmasterd itself'
            cand version 'Print taskmasterd''s version (and taskmasterctl''s when it differs)'
            cand help 'Show help: the commands and plugins, or one command''s help'
            cand completions 'Print a completion script for a shell'
        }
        &'taskmasterctl;status'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;start'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand --transient 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;stop'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand --transient 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;restart'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand --transient 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;why'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;signal'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;pid'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;avail'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;reread'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;reload'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;update'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;events'= {
            cand --since 'Replay the events after this sequence number first'
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;tail'= {
            cand -n 'How many of the last lines to print first'
            cand --lines 'How many of the last lines to print first'
            cand -f 'Keep printing what is appended to the log, until interrupted'
            cand --follow 'Keep printing what is appended to the log, until interrupted'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;maintail'= {
            cand -n 'How many of the last lines to print first'
            cand --lines 'How many of the last lines to print first'
            cand -f 'Keep printing what is appended to the log, until interrupted'
            cand --follow 'Keep printing what is appended to the log, until interrupted'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;fg'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;clear'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;shutdown'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;version'= {
            cand --json 'Print taskmasterd''s answer as JSON, for scripts'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'taskmasterctl;help'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'taskmasterctl;completions'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
    ]
    $completions[$command]
}
