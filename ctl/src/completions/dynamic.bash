
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
                    choices=(@SIGNALS@)
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

