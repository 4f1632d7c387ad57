import Foundation
import Testing
import TestSupport
@testable import Checkpoints

@Suite struct InspectTests {
    @Test func recognizesFixtures() throws {
        let vq = describe(try loadStateDict(contentsOf: fixture("vqgan_tiny.ckpt")))
        #expect(vq.model == nil)
        #expect(vq.formatDescription == "PyTorch zip (torch.save), Lightning checkpoint (pytorch-lightning 1.0.8, epoch 7, global_step 1234)")
        let expected = try SafeTensors.read(contentsOf: fixture("vqgan_tiny_expected.safetensors"))
        #expect(vq.parameterCount == expected.parameterCount)
        #expect(!vq.text().contains("metadata:"))
        #expect(vq.tensors.first == .init(name: "encoder.conv_in.weight", dtype: "float32", shape: [4, 3, 3, 3]))

        // The first recogniser that answers names the model.
        let clip = describe(try loadStateDict(contentsOf: fixture("clip_tiny.pt")),
                            recognizers: [{ _ in nil }, { ModelRecognition(model: "m", configuration: "\($0.names.count) tensors") }])
        #expect(clip.model == "m" && clip.text().contains("model: m\n") && clip.text().contains("config: "))
        #expect(clip.format == "torchScript")
        let text = clip.text()
        #expect(text.contains("visual.conv1.weight"))
        #expect(text.contains("float16  [64, 3, 4, 4]"))
        #expect(text.contains("format: TorchScript archive (torch.jit.save)"))

        let json = clip.json()
        // One line, snake_case keys.
        #expect(!json.contains("\n") && json.contains("\"parameter_count\""))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let decoded = try decoder.decode(InspectReport.self, from: Data(json.utf8))
        #expect(decoded.tensors == clip.tensors && decoded.model == clip.model)

    }

    @Test func textListsEveryTensorAndGroupsDigits() throws {
        let sd = try syntheticStateDict([("a", [1000, 1000]), ("bb.weight", [3])])
        let text = describe(sd).text()
        #expect(text.contains("tensors: 2, parameters: 1,000,003"))
        #expect(text.contains("  a          float32  [1000, 1000]"))
        #expect(text.contains("  bb.weight  float32  [3]"))
        #expect(groupedDigits(0) == "0" && groupedDigits(999) == "999" && groupedDigits(1234) == "1,234")
    }
}
