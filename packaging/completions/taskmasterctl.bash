_taskmasterctl() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="taskmasterctl"
                ;;
            taskmasterctl,avail)
                cmd="taskmasterctl__subcmd__avail"
                ;;
            taskmasterctl,clear)
                cmd="taskmasterctl__subcmd__clear"
                ;;
            taskmasterctl,completions)
                cmd="taskmasterctl__subcmd__completions"
                ;;
            taskmasterctl,events)
                cmd="taskmasterctl__subcmd__events"
                ;;
            taskmasterctl,fg)
                cmd="taskmasterctl__subcmd__fg"
                ;;
            taskmasterctl,help)
                cmd="taskmasterctl__subcmd__help"
                ;;
            taskmasterctl,maintail)
                cmd="taskmasterctl__subcmd__maintail"
                ;;
            taskmasterctl,pid)
                cmd="taskmasterctl__subcmd__pid"
                ;;
            taskmasterctl,reload)
                cmd="taskmasterctl__subcmd__reload"
                ;;
            taskmasterctl,reread)
                cmd="taskmasterctl__subcmd__reread"
                ;;
            taskmasterctl,restart)
                cmd="taskmasterctl__subcmd__restart"
                ;;
            taskmasterctl,shutdown)
                cmd="taskmasterctl__subcmd__shutdown"
                ;;
            taskmasterctl,signal)
                cmd="taskmasterctl__subcmd__signal"
                ;;
            taskmasterctl,start)
                cmd="taskmasterctl__subcmd__start"
                ;;
            taskmasterctl,status)
                cmd="taskmasterctl__subcmd__status"
                ;;
            taskmasterctl,stop)
                cmd="taskmasterctl__subcmd__stop"
                ;;
            taskmasterctl,tail)
                cmd="taskmasterctl__subcmd__tail"
                ;;
            taskmasterctl,update)
                cmd="taskmasterctl__subcmd__reload"
                ;;
            taskmasterctl,version)
                cmd="taskmasterctl__subcmd__version"
                ;;
            taskmasterctl,why)
                cmd="taskmasterctl__subcmd__why"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        taskmasterctl)
            opts="-c -s -h -V --configuration --config --serverurl --server-url --list --help --version status start stop restart why signal pid avail reread reload update events tail maintail fg clear shutdown version help completions"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --configuration)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --server-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serverurl)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__avail)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__clear)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__completions)
            opts="-h --help bash elvish fish powershell zsh"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__events)
            opts="-h --json --since --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --since)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__fg)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__help)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__maintail)
            opts="-f -n -h --follow --lines --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --lines)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -n)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__pid)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__reload)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__reread)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__restart)
            opts="-h --json --transient --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__shutdown)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__signal)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__start)
            opts="-h --json --transient --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__status)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__stop)
            opts="-h --json --transient --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__tail)
            opts="-f -n -h --follow --lines --help stdout stderr"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --lines)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -n)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__version)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        taskmasterctl__subcmd__why)
            opts="-h --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}


# taskmasterctl: process names from the running daemon, plugin names from $PATH.
_taskmasterctl_dynamic() {
    local line="${COMP_LINE:0:COMP_POINT}" cur word sub="" positional=0 i
    local -a words globals=()
    cur="${line##*[[:space:]]}"
    read -ra words <<< "$line"
    [[ -z "$cur" ]] || words=("${words[@]:0:${#words[@]}-1}")
    for ((i = 1; i < ${#words[@]}; i++)); do
        word="${words[i]}"
        case "$word" in
            -c|--config|--configuration|-s|--server-url|--serverurl)
                globals+=("$word" "${words[i+1]}")
                ((i++))
                ;;
            # The value of tail's and maintail's -n is not a name.
            -n|--lines) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z "$sub" ]]; then sub="$word"; else ((positional++)); fi
                ;;
        esac
    done
    if [[ "$cur" != -* ]]; then
        local -a choices=()
        case "$sub" in
            "") choices=($("${words[0]}" __complete-names --plugins 2>/dev/null)) ;;
            signal)
                if ((positional == 0)); then
                    choices=(HUP INT QUIT KILL USR1 USR2 TERM ALRM CONT STOP TSTP WINCH)
                else
                    choices=($("${words[0]}" "${globals[@]}" __complete-names 2>/dev/null))
                fi
                ;;
            tail)
                case "${words[${#words[@]}-1]}" in
                    -n|--lines) ;;
                    *)
                        if ((positional == 0)); then
                            choices=($("${words[0]}" "${globals[@]}" __complete-names 2>/dev/null))
                        else
                            choices=(stdout stderr)
                        fi
                        ;;
                esac
                ;;
            status|start|stop|restart|pid|clear)
                choices=($("${words[0]}" "${globals[@]}" __complete-names 2>/dev/null))
                ;;
            fg|why)
                ((positional > 0)) ||
                choices=($("${words[0]}" "${globals[@]}" __complete-names 2>/dev/null))
                ;;
        esac
        if [[ -n "$sub" && ${#choices[@]} -gt 0 ]]; then
            COMPREPLY=($(compgen -W "${choices[*]}" -- "$cur"))
            # bash splits words at ':'; reply with what follows the last one.
            if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
                local prefix="${cur%"${cur##*:}"}"
                COMPREPLY=("${COMPREPLY[@]#"$prefix"}")
            fi
            return 0
        fi
        if [[ -z "$sub" ]]; then
            _taskmasterctl "$@"
            COMPREPLY+=($(compgen -W "${choices[*]}" -- "$cur"))
            return 0
        fi
    fi
    _taskmasterctl "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _taskmasterctl_dynamic -o nosort -o bashdefault -o default taskmasterctl
else
    complete -F _taskmasterctl_dynamic -o bashdefault -o default taskmasterctl
fi
