// The econdsl VS Code extension: highlighting comes from the TextMate grammar; everything else from the
// language server, `econdsl lsp`, started over stdio for every .econ file.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("econdsl").get("server.command", "econdsl");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient("econdsl", "econdsl language server", server, {
    documentSelector: [{ language: "econ" }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
