
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
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal; and not __taskmasterctl_signal_given" -f -a "@SIGNALS@"
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand signal; and __taskmasterctl_signal_given" -f -a "(__taskmasterctl_names)"
complete -c taskmasterctl -n "__fish_taskmasterctl_using_subcommand tail" -f -a "stdout stderr"
