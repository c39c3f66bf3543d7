/*
 * KiroClaw install policy: signatures, compiled once with YARA-X.
 *
 * Run over each file's *normalised* text (kiroclaw_policy.normalize: shell quotes and escapes inside
 * words removed, invisible format characters dropped, NFKC and confusables folded, simple variables
 * resolved, continued lines joined), and over the raw bytes of files that are not text (every string is
 * `ascii wide nocase`, so UTF-16 text hidden in a binary still matches).
 *
 * meta.finding names the policy rule (a key of kiroclaw_policy.rules.RULES); meta.kind tells the Python
 * side what to do with a match: "finding" (report it), "download" (a download or decode written to a
 * file: report it only when that file is run later), "url" (look at the host), "combo" (several strings
 * that together make the shape, e.g. socket + connect + dup2 + a shell).
 *
 * Gaps are bounded ({0,400} characters, never across a line break after normalisation): the scan stays
 * linear on hostile input, and YARA-X refuses slow patterns when this file is compiled.
 */

rule pipe_to_shell {
  meta:
    finding = "curl-pipe-shell"
    kind = "finding"
    why = "a download is piped into a shell or interpreter"
  strings:
    // curl … | sh, wget -qO- … | sudo bash -s, curl … | tee x | bash, curl.exe … | powershell -
    $sh = /\b(curl|wget|fetch|aria2c|lwp-download|lwp-request|http|xh)(\.exe)?\s[^|\n]{0,400}\|\s*(tee\s[^|\n]{0,120}\|\s*)?(sudo\s+(-[a-z]+\s+)*)?(env\s+([a-z_0-9]+=\S*\s+)*)?((\/usr)?(\/local)?\/bin\/)?(ba|z|da|k|c|tc|fi|a|mk)?sh\b/ ascii wide nocase
    // … | python3 -, … | node, … | perl (the interpreter reads its program from stdin)
    $interp = /\b(curl|wget|fetch|aria2c)(\.exe)?\s[^|\n]{0,400}\|\s*(tee\s[^|\n]{0,120}\|\s*)?(sudo\s+)?((\/usr)?(\/local)?\/bin\/)?(python[0-9.]*|perl|ruby|node|php|osascript|lua|tclsh)(\s+-)?\s*($|[\r\n;&|)`"'])/ ascii wide nocase
    $ps = /\b(curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod)(\.exe)?\s[^|\n]{0,400}\|\s*(iex|invoke-expression|(powershell|pwsh)(\.exe)?(\s+-[a-z]+)*\s*(-\s*)?($|[\r\n;&|)]))/ ascii wide nocase
    $ps_dl = /(net\.webclient\)?\s*\.\s*download(string|data)|start-bitstransfer)[^\n]{0,400}\|\s*(iex|invoke-expression)\b/ ascii wide nocase
  condition:
    any of them
}

rule substitution_to_shell {
  meta:
    finding = "curl-pipe-shell"
    kind = "finding"
    why = "a download is run as a program (command or process substitution)"
  strings:
    // bash -c "$(curl …)", python3 -c "$(curl …)", osascript -e "$(curl …)", perl -e `curl …`
    $c = /\b((ba|z|da|k)?sh|python[0-9.]*|perl|ruby|node|php|osascript|pwsh|powershell)(\.exe)?\s+(-[a-z]+\s+)*-(c|e|command)\s+["']?(\$\(|`)\s*(sudo\s+)?(curl|wget|fetch|iwr|irm|invoke-webrequest)\b/ ascii wide nocase
    // eval "$(curl …)", source <(curl …), . <(wget -qO- …), bash <(curl …)
    $eval = /\b(eval|source|exec)\s+["']?(\$\(|`|<\()\s*(sudo\s+)?(curl|wget|fetch)\b/ ascii wide nocase
    $dot = /(^|[;&|]\s*|\s)\.\s+<\(\s*(curl|wget|fetch)\b/ ascii wide nocase
    $proc = /\b((ba|z|da|k)?sh|python[0-9.]*|perl|ruby|node)\s+(-[a-z]+\s+)*<\(\s*(sudo\s+)?(curl|wget|fetch)\b/ ascii wide nocase
    $herestr = /\b((ba|z|da|k)?sh|python[0-9.]*)\s+<<<\s*["']?(\$\(|`)\s*(curl|wget)\b/ ascii wide nocase
    // iex (New-Object Net.WebClient).DownloadString(…), iex (iwr …), Invoke-Expression (irm …)
    $iex = /\b(iex|invoke-expression)\s*\(?\s*["']?\s*[\(&]?\s*(new-object\s+(system\.)?net\.webclient|iwr|irm|invoke-webrequest|invoke-restmethod|curl|wget)\b/ ascii wide nocase
    $iex_dl = /\b(iex|invoke-expression)\b[^\n]{0,200}\.download(string|data)\s*\(/ ascii wide nocase
  condition:
    any of them
}

rule download_to_file {
  meta:
    finding = "download-exec"
    kind = "download"
    why = "a file is downloaded and then run"
  strings:
    $curl_o = /\b(curl|wget)(\.exe)?\s[^\n|;&]{0,400}\s(-o|-O|--output|--output-document)(\s+|=)["']?[^\s"';|&)]{1,200}/ ascii wide nocase
    $redir = /\b(curl|wget)(\.exe)?\s[^\n|;&]{0,400}[^2&]>\s*["']?[^\s"';|&)]{1,200}/ ascii wide nocase
    $iwr = /\b(iwr|invoke-webrequest|irm|invoke-restmethod)\b[^\n]{0,400}-outfile\s+["']?[^\s"';|&)]{1,200}/ ascii wide nocase
    $wc = /\.downloadfile\s*\([^\n]{0,400}/ ascii wide nocase
    $bits = /\bstart-bitstransfer\b[^\n]{0,400}-destination\s+["']?[^\s"';|&)]{1,200}/ ascii wide nocase
  condition:
    any of them
}

rule decode_to_file {
  meta:
    finding = "base64-shell"
    kind = "download"
    why = "encoded text is decoded to a file that is then run"
  strings:
    $b64 = /\b(base64\s+(-[a-z]*d[a-z]*|--decode)|xxd\s+(-[a-z]+\s+)*-r|openssl\s+(enc\s+)?(-[a-z0-9]+\s+)*-?base64\s+-d|certutil(\.exe)?\s+-decode(hex)?)[^\n|;&]{0,300}(>|\s-o|\s-out)\s*["']?[^\s"';|&)]{1,200}/ ascii wide nocase
  condition:
    $b64
}

rule lolbin_download {
  meta:
    finding = "download-exec"
    kind = "finding"
    why = "a Windows system tool is used to fetch or run remote code"
  strings:
    $certutil = /\bcertutil(\.exe)?\s[^\n]{0,120}-urlcache\b/ ascii wide nocase
    $bitsadmin = /\bbitsadmin(\.exe)?\s[^\n]{0,120}\/transfer\b/ ascii wide nocase
    $mshta = /\bmshta(\.exe)?\s+["']?(https?:|javascript:|vbscript:|\\\\)/ ascii wide nocase
    $regsvr = /\bregsvr32(\.exe)?\s[^\n]{0,120}\/i:\s*["']?https?:/ ascii wide nocase
    $rundll = /\brundll32(\.exe)?\s[^\n]{0,60}javascript:/ ascii wide nocase
  condition:
    any of them
}

rule download_chmod_run {
  meta:
    finding = "download-exec"
    kind = "finding"
    why = "a download is made executable and run"
  strings:
    $a = /\b(curl|wget)\b[^\n]{0,400}(&&|;)\s*chmod\s+(\+|[0-7]*[1357])[^\n&;]{0,100}(&&|;)\s*\S*\.\// ascii wide nocase
    $quarantine = /\bxattr\s+(-[a-z]+\s+)*-[a-z]*[dcr][a-z]*\s[^\n]{0,80}com\.apple\.quarantine/ ascii wide nocase
  condition:
    any of them
}

rule decode_to_shell {
  meta:
    finding = "base64-shell"
    kind = "finding"
    why = "decoded (base64/hex) text is run as shell commands"
  strings:
    $pipe = /\b(base64\s+(-[a-z]*d[a-z]*|--decode)|openssl\s+(enc\s+)?(-[a-z0-9]+\s+)*-?base64\s+-d|b64decode|xxd\s+(-[a-z]+\s+)*-r|xxd\s+-p\s+-r|basenc\s+[^\n|]{0,40}-d)[^\n|]{0,400}\|\s*(sudo\s+)?((\/usr)?(\/local)?\/bin\/)?((ba|z|da|k|c|tc|fi|a)?sh|python[0-9.]*|perl|ruby|node|php|osascript)\b/ ascii wide nocase
    $subst = /\b((ba|z|da|k)?sh|python[0-9.]*|perl|osascript)\s+(-[a-z]+\s+)*-[ce]\s+["']?\$\([^)\n]{0,400}(base64\s+(-[a-z]*d|--decode)|xxd\s+(-[a-z]+\s+)*-r|b64decode)/ ascii wide nocase
    $eval = /\beval\s+["']?(\$\(|`)[^)\n]{0,400}(base64\s+(-[a-z]*d|--decode)|xxd\s+(-[a-z]+\s+)*-r|b64decode)/ ascii wide nocase
    $proc = /\b(ba|z)?sh\s+<\(\s*[^)\n]{0,400}(base64\s+(-[a-z]*d|--decode)|xxd\s+(-[a-z]+\s+)*-r)/ ascii wide nocase
    $pyexec = /\bexec\s*\(\s*(__import__\(\s*["']base64["']\s*\)|base64|codecs)\s*\.\s*(b64decode|decode)/ ascii wide nocase
    $ps_b64 = /(frombase64string[^\n]{0,400}\b(iex|invoke-expression)\b|\b(iex|invoke-expression)\b[^\n]{0,400}frombase64string)/ ascii wide nocase
    $ps_enc = /\b(powershell|pwsh)(\.exe)?\s+(-[a-z]+(\s+[^-\s]\S*)?\s+){0,6}-e(nc|ncodedcommand)?\s+[a-z0-9+\/=]{16,}/ ascii wide nocase
  condition:
    any of them
}

rule reverse_shell_literal {
  meta:
    finding = "reverse-shell"
    kind = "finding"
    why = "opens a reverse shell"
  strings:
    $devtcp = /\/dev\/(tcp|udp)\/[^\s\/]{1,100}\/[0-9$]/ ascii wide nocase
    $nc_e = /\b(nc|ncat|netcat|nc\.traditional|nc\.openbsd)(\.exe)?\b[^\n|]{0,300}\s(-[a-z]*e|-c|--exec|--sh-exec)\s+["']?\S*(sh|cmd(\.exe)?|powershell)\b/ ascii wide nocase
    $socat = /\bsocat\b[^\n]{0,300}\b(exec|system):["']?[^\s"']{0,40}(sh|cmd)\b/ ascii wide nocase
    $bash_i = /\b(ba|z)?sh\s+-i\s*[>&]/ ascii wide nocase
    $fifo = /\bmkfifo\b[^\n]{0,400}\b(nc|ncat|netcat|telnet|s_client)\b/ ascii wide nocase
    $telnet = /\btelnet\s+\S+\s+[0-9]+\s*\|\s*\/bin\/(ba)?sh\s*\|\s*telnet\b/ ascii wide nocase
    $gawk = /\/inet\/tcp\/[0-9]+\/[^\s\/]+\/[0-9]+/ ascii wide nocase
    $ztcp = /\bzmodload\s+zsh\/net\/tcp\b/ ascii wide nocase
  condition:
    any of them
}

rule reverse_shell_python {
  meta:
    finding = "reverse-shell"
    kind = "combo"
    why = "opens a reverse shell (socket + connect + standard streams to a shell)"
  strings:
    $sock = /\bsocket\s*\.\s*socket\s*\(|\bsocket\s*\(\s*(socket\.)?af_inet/ ascii wide nocase
    $conn = /\.connect\s*\(\s*\(/ ascii wide nocase
    $dup = /\b(os\s*\.\s*)?dup2\s*\(|\bstdin\s*=\s*[a-z_]+\s*\.\s*fileno\s*\(/ ascii wide nocase
    $shell = /(\/bin\/(ba|z)?sh\b|pty\s*\.\s*spawn|["'](ba|z)?sh["']|["'](ba|z)?sh\s+-i["']|cmd\.exe)/ ascii wide nocase
  condition:
    all of them
}

rule reverse_shell_scripting {
  meta:
    finding = "reverse-shell"
    kind = "combo"
    why = "opens a reverse shell (a socket handed to a shell)"
  strings:
    $php_sock = /\bfsockopen\s*\(/ ascii wide nocase
    $php_run = /\b(exec|shell_exec|system|passthru|popen|proc_open)\s*\(\s*["'][^"'\n]{0,60}(\/bin\/(ba)?sh|sh\s+-i|<&\s*[0-9])/ ascii wide nocase
    $pl_sock = /\bsocket\s*\(\s*[a-z]+\s*,\s*(pf_inet|af_inet|[0-9])/ ascii wide nocase
    $pl_conn = /\bconnect\s*\(\s*[a-z]+\s*,\s*sockaddr_in\b/ ascii wide nocase
    $pl_run = /\b(open\s*\(\s*stdin|exec\s*\(?\s*["']\/bin\/(ba)?sh)/ ascii wide nocase
    $rb_sock = /\btcpsocket\s*\.\s*(new|open)\s*\(/ ascii wide nocase
    $rb_run = /\b(exec|spawn|io\s*\.\s*popen|system)\s*\(?\s*[^\n]{0,80}(sh|cmd)\b[^\n]{0,80}(<&|fileno|%d|\bin:)/ ascii wide nocase
    $ps_sock = /net\.sockets\.tcpclient\s*\(/ ascii wide nocase
    $ps_stream = /\.getstream\s*\(\s*\)/ ascii wide nocase
    $ps_run = /\b(iex|invoke-expression)\b|\$[a-z]+\s*=\s*\(?\s*iex/ ascii wide nocase
    $js_net = /\b(net\s*\.\s*(socket|connect|createconnection)\s*\(|new\s+net\s*\.\s*socket\s*\()/ ascii wide nocase
    $js_spawn = /\b(spawn|exec)\s*\(\s*["'](\/bin\/(ba)?sh|sh|bash|cmd(\.exe)?)["']/ ascii wide nocase
    $js_pipe = /\.pipe\s*\(\s*[a-z_]+\s*\.\s*stdin\s*\)/ ascii wide nocase
    $lua_sock = /socket\s*\.\s*tcp\s*\(/ ascii wide nocase
    $lua_run = /io\s*\.\s*popen\s*\(/ ascii wide nocase
  condition:
    ($php_sock and $php_run) or ($pl_sock and $pl_conn and $pl_run) or ($rb_sock and $rb_run) or
    ($ps_sock and $ps_stream and $ps_run) or ($js_net and $js_spawn and $js_pipe) or ($lua_sock and $lua_run)
}

rule exfiltration {
  meta:
    finding = "exfiltration"
    kind = "finding"
    why = "sends secrets (keys, credentials, wallets) off the machine"
  strings:
    $pipe = /\b(cat|type|get-content|tar|zip)\b[^\n|]{0,200}(\.ssh\/id_|\.aws\/credentials|\.netrc|\.git-credentials|\.docker\/config\.json|\.kube\/config|keychains?\/|login data|\.env\b|\/etc\/shadow|wallet)[^\n|]{0,200}\|\s*(curl|wget|nc|ncat|netcat|openssl\s+s_client)\b/ ascii wide nocase
    $upload = /\b(curl|wget)\b[^\n]{0,300}\s(-d|--data(-binary|-raw|-urlencode)?|-f|--form|-t|--upload-file|--post-file)[\s=]["']?[^\s"']{0,60}(\.ssh\/id_|\.aws\/credentials|\.netrc|\.git-credentials|\.docker\/config\.json|\.kube\/config|keychain|login data|\.env\b|\/etc\/shadow|wallet|history)/ ascii wide nocase
    $say = /\b(send|upload|post|exfiltrate|transmit|forward|paste)\b[^\n]{0,160}(~\/\.ssh\/|id_rsa|id_ed25519|\.aws\/credentials|private keys?|seed phrase|wallet\.dat|keychain|browser (cookies|passwords)|saved passwords)[^\n]{0,160}\b(to|at|via)\b[^\n]{0,80}(https?:\/\/|webhook|discord|telegram|pastebin|server|endpoint)/ ascii wide nocase
    $keychain = /\bsecurity\s+(find-generic-password|find-internet-password|dump-keychain)\b[^\n]{0,200}(-w|-g|\|)/ ascii wide nocase
    $hook = /(discord(app)?\.com\/api\/webhooks\/|api\.telegram\.org\/bot[^\s\/]{0,80}\/send(document|message))/ ascii wide nocase
  condition:
    any of ($pipe, $upload, $say) or ($keychain) or ($hook and ($upload or $pipe or $keychain))
}

rule prompt_injection {
  meta:
    finding = "prompt-injection"
    kind = "finding"
    why = "tells the agent to override its instructions or hide actions from the user"
  strings:
    $ignore = /\b(ignore|disregard|forget|override)\s+(all\s+|any\s+)?(of\s+)?(the\s+|your\s+)?(previous|prior|above|earlier|preceding|system|original)\s+(instructions|prompts?|rules|directions|guidelines|messages)\b/ ascii wide nocase
    $hide = /\b(do\s+not|don't|never)\s+(tell|inform|mention|reveal|disclose|notify)\s+(this\s+|it\s+|anything\s+)?(to\s+)?(the\s+)?user\b/ ascii wide nocase
    $silent = /\bwithout\s+(telling|informing|notifying|alerting)\s+(the\s+)?user\b/ ascii wide nocase
    $secret = /\b(keep|hide)\s+(this|these\s+(steps|instructions|actions))\s+(secret|hidden)\s+from\s+(the\s+)?user\b/ ascii wide nocase
    $mode = /\byou\s+are\s+now\s+(in\s+)?(developer|dan|jailbreak|god|unrestricted)\s+mode\b/ ascii wide nocase
    $tag = /<\s*(important|system)\s*>[^\n<]{0,300}\b(do\s+not|never)\s+(tell|mention|show)\b/ ascii wide nocase
  condition:
    any of them
}

rule package_from_url {
  meta:
    finding = "package-from-url"
    kind = "url"
    why = "installs and runs a package from outside the package index"
  strings:
    $npx = /\b(npx|pnpx|bunx|pnpm\s+dlx|yarn\s+dlx)\s+((-y|--yes|-p|--package)(\s+|=))*["']?(https?:\/\/|git\+|git:\/\/|github:|gist:|[^\s"']{1,200}\.tgz\b)/ ascii wide nocase
    $uvx = /\b(uvx|uv\s+tool\s+(run|install)|pipx\s+(run|install))\s+(--[a-z-]+(\s+|=)\S+\s+)*["']?(git\+)?(https?:\/\/|[^\s"']{1,200}\.(whl|tar\.gz)\b)/ ascii wide nocase
    $pip = /\b(pip[0-9.]*|uv\s+pip|python[0-9.]*\s+-m\s+pip)[ \t]+install[ \t]+((-{1,2}[a-z-]{1,30})[ \t]+){0,4}["']?(git\+)?https?:\/\// ascii wide nocase
    $pip_index = /\b(pip[0-9.]*|uv\s+pip|python[0-9.]*\s+-m\s+pip)[ \t]+install[ \t][^\n|;&#]{0,200}[ \t](-i|--index-url|--extra-index-url|--find-links|--trusted-host)([ \t]+|=)\S/ ascii wide nocase
    $npm = /\b(npm|pnpm|yarn|bun)[ \t]+(i|install|add)[ \t]+((-{1,2}[a-z-]{1,30})[ \t]+){0,4}["']?(https?:\/\/|git\+https?:\/\/)/ ascii wide nocase
  condition:
    any of them
}

rule urls {
  meta:
    finding = "suspicious-url"
    kind = "url"
    why = "points at a raw address, a paste or file-drop host, or a look-alike domain"
  strings:
    $url = /\b(https?|ftp):\/\/[^\s\/"'<>`)\]]{3,253}/ ascii wide nocase
  condition:
    $url
}

rule password_archive {
  meta:
    finding = "password-archive"
    kind = "finding"
    why = "tells you to unpack an archive with a password"
  strings:
    $cmd = /\b(unzip\s+(-[a-z]+\s+)*-p\s*\S+|7za?\s+[xe]\s[^\n]{0,120}\s-p\S+|unrar\s+[xe]\s[^\n]{0,120}\s-p\S+)/ ascii wide nocase
    $say1 = /\.(zip|rar|7z)\b[^\n]{0,160}\b(password|passphrase|passwd|pass\s*:)\s*(is\s*)?[:=]?\s*["'`*]?[a-z0-9!@#$%^&]{3,40}/ ascii wide nocase
    $say2 = /\b(password|passphrase)\b[^\n]{0,80}\b(to\s+)?(extract|unzip|unpack|decompress|open)\b[^\n]{0,80}\.(zip|rar|7z)\b/ ascii wide nocase
    $say3 = /\b(extract|unzip|unpack|decompress)\b[^\n]{0,80}\b(with|using)\s+(the\s+)?(password|passphrase|pass)\s*[:=]?\s*["'`*]?[a-z0-9!@#$%^&]{3,40}/ ascii wide nocase
  condition:
    any of them
}

rule package_install {
  meta:
    finding = "typosquat"
    kind = "package"
    why = "installs a package whose name imitates a popular one"
  strings:
    $install = /\b(pip[0-9.]*|uv\s+pip|uv\s+add|poetry\s+add|pipx|npm|pnpm|yarn|bun|npx|uvx)[ \t]+(install[ \t]+|add[ \t]+|i[ \t]+|-y[ \t]+|--yes[ \t]+)[^\n|;&#]{1,200}/ ascii wide nocase
  condition:
    $install
}
