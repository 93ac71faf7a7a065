
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'taskmasterctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'taskmasterctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'taskmasterctl' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Config file to read the socket''s location from')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to read the socket''s location from')
            [CompletionResult]::new('--configuration', '--configuration', [CompletionResultType]::ParameterName, 'Config file to read the socket''s location from')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path')
            [CompletionResult]::new('--server-url', '--server-url', [CompletionResultType]::ParameterName, 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path')
            [CompletionResult]::new('--serverurl', '--serverurl', [CompletionResultType]::ParameterName, 'taskmasterd''s socket: unix:///path/to/taskmaster.sock, or the bare path')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the commands and the installed plugins (with their paths), then exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the state of processes (every process when no name is given)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start processes; waits until they are RUNNING or have failed')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop processes: send each its stopsignal, then SIGKILL after stopwaitsecs')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stop processes, then start them again (also the ones that were not running)')
            [CompletionResult]::new('why', 'why', [CompletionResultType]::ParameterValue, 'Explain what happened to a process, in order, and why')
            [CompletionResult]::new('signal', 'signal', [CompletionResultType]::ParameterValue, 'Send a signal to running processes')
            [CompletionResult]::new('pid', 'pid', [CompletionResultType]::ParameterValue, 'Print pids: taskmasterd''s without a name, else each named process''s')
            [CompletionResult]::new('avail', 'avail', [CompletionResultType]::ParameterValue, 'List the configured programs: in use or not, autostart, priority')
            [CompletionResult]::new('reread', 'reread', [CompletionResultType]::ParameterValue, 'Show what a reload would change, without changing anything')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Apply the config file now: restart only the programs that changed')
            [CompletionResult]::new('update', 'update', [CompletionResultType]::ParameterValue, 'Apply the config file now: restart only the programs that changed')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Print every state change as it happens, until interrupted')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Print the last lines of a process''s stdout or stderr log')
            [CompletionResult]::new('maintail', 'maintail', [CompletionResultType]::ParameterValue, 'Print the last lines of taskmasterd''s activity log ([taskmasterd] logfile)')
            [CompletionResult]::new('fg', 'fg', [CompletionResultType]::ParameterValue, 'Attach to a process: show its output live and send it what you type')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Empty the stdout and stderr log files of processes; they keep running')
            [CompletionResult]::new('shutdown', 'shutdown', [CompletionResultType]::ParameterValue, 'Stop every process, then taskmasterd itself')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print taskmasterd''s version (and taskmasterctl''s when it differs)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Show help: the commands and plugins, or one command''s help')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a completion script for a shell')
            break
        }
        'taskmasterctl;status' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;start' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('--transient', '--transient', [CompletionResultType]::ParameterName, 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;stop' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('--transient', '--transient', [CompletionResultType]::ParameterName, 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;restart' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('--transient', '--transient', [CompletionResultType]::ParameterName, 'Do not remember this as the operator''s intent (statedir): after a restart of taskmasterd, autostart decides again')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;why' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;signal' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;pid' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;avail' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;reread' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;reload' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;update' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;events' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Replay the events after this sequence number first')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;tail' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing what is appended to the log, until interrupted')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing what is appended to the log, until interrupted')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;maintail' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many of the last lines to print first')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing what is appended to the log, until interrupted')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing what is appended to the log, until interrupted')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;fg' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;clear' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;shutdown' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;version' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print taskmasterd''s answer as JSON, for scripts')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'taskmasterctl;help' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'taskmasterctl;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
